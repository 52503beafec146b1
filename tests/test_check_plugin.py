"""The plugin contract (``emgan_core.testing.check_plugin``) fails, never skips, where it cannot check:
the example data it needs are missing (outside a checkout), or importing the plugin's ``plugin.py``
imports torch (which would slow every ``emgan`` start)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from emgan_core.testing import check_plugin, check_plugin_import, plugin_module

HEAVY_PLUGIN = """\
from pathlib import Path

from emgan_core.api import Component, RecipeDir, hookimpl

from .networks import Net


@hookimpl
def emgan_generators():
    return [Component("heavy-net", Net, "a generator imported at start")]
"""


def _heavy_plugin(folder: Path) -> Path:
    """An installed-looking plugin ``heavy`` (package and dist-info with its entry point) under ``folder``,
    whose plugin.py imports its networks module, which imports torch."""
    package = folder / "emgan_heavy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "plugin.py").write_text(HEAVY_PLUGIN)
    (package / "networks.py").write_text("import torch\n\n\nclass Net(torch.nn.Module):\n    pass\n")
    (package / "light.py").write_text("from emgan_core.api import Component, hookimpl\n")
    info = folder / "emgan_plugin_heavy-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emgan-plugin-heavy\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[emgan]\nheavy = emgan_heavy.plugin\n")
    return folder


def test_a_plugin_py_importing_torch_fails_with_the_chain(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(_heavy_plugin(tmp_path)))
    assert plugin_module("heavy") == "emgan_heavy.plugin"
    check_plugin_import("emgan_heavy.light")  # the core's public API alone imports no torch
    with pytest.raises(pytest.fail.Exception) as failed:
        check_plugin_import("emgan_heavy.plugin")
    message = str(failed.value)
    assert message.startswith("check_plugin: importing emgan_heavy.plugin imports torch (via ")
    chain = message.split("(via ", 1)[1].split(")", 1)[0].split(" -> ")
    assert chain == [f"{tmp_path / 'emgan_heavy' / 'plugin.py'}:5", f"{tmp_path / 'emgan_heavy' / 'networks.py'}:1"]
    assert "import torch only inside functions" in message
    # the whole contract stops there, before building or training anything
    with pytest.raises(pytest.fail.Exception, match="importing emgan_heavy.plugin imports torch"):
        check_plugin("heavy", tmp_path, "heavy-quickstart")


def test_a_plugin_that_is_not_installed_fails(tmp_path):
    with pytest.raises(pytest.fail.Exception, match="no installed distribution has an entry point 'absent'"):
        check_plugin("absent", tmp_path, "absent-quickstart")


@pytest.mark.parametrize("plugin", ["cryoetgan", "denoise", "diffragan", "struc2mapgan", "superem"])
def test_the_shipped_plugins_import_without_torch(plugin):
    check_plugin_import(plugin_module(plugin))


def test_missing_inputs_fail_naming_them_and_the_example_data(tmp_path, monkeypatch):
    monkeypatch.setenv("EMGAN_EXAMPLE_DATA", str(tmp_path / "nowhere"))
    gone = tmp_path / "gone.mrc"
    with pytest.raises(pytest.fail.Exception) as failed:
        check_plugin("denoise", tmp_path, "denoise-quickstart", [f"data.train=[{{structure: {tmp_path}/1ubq.pdb}}]"],
                     source=gone)
    assert str(failed.value) == (
        f"check_plugin: input files missing: {gone}, {tmp_path}/1ubq.pdb; if they are emgan's example data: "
        f"EMGAN_EXAMPLE_DATA={tmp_path / 'nowhere'} is not a folder; set EMGAN_EXAMPLE_DATA to a folder holding "
        "emgan's example data (examples/data of an emgan checkout)")


SUITE = '''\
import pytest

from emgan_core.testing import check_plugin


@pytest.fixture(scope="module")
def pairs(data_dir):
    return data_dir / "pairs.csv"


def test_plugin_contract(tmp_path, data_dir):
    check_plugin("example", tmp_path, "example-deblur", source=data_dir / "emd2566_3J6B_chain9.mrc")


def test_plugin_contract_through_a_fixture(tmp_path, pairs):
    from emgan_core.testing import check_plugin as contract

    contract("example", tmp_path, "example-deblur")


def test_something_else(data_dir):
    assert data_dir.is_dir()
'''


def test_a_contract_test_without_example_data_fails_where_others_skip(tmp_path):
    """A plugin's suite run where no example data are found: its contract tests fail with how to
    provide the data; its other tests that need them skip, as before."""
    (tmp_path / "test_suite.py").write_text(SUITE)
    env = {**os.environ, "EMGAN_EXAMPLE_DATA": str(tmp_path / "no-data")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rEs", "-p", "no:randomly", "-p", "no:cacheprovider",
                           "test_suite.py"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.splitlines()[-1].startswith("1 skipped, 2 errors in ")  # errors at set-up: failures
    reason = (f"the plugin contract (check_plugin) cannot run without emgan's example data: EMGAN_EXAMPLE_DATA="
              f"{tmp_path / 'no-data'} is not a folder; set EMGAN_EXAMPLE_DATA to a folder holding emgan's example "
              "data (examples/data of an emgan checkout)")
    for test in ("test_plugin_contract", "test_plugin_contract_through_a_fixture"):
        assert f"ERROR at setup of {test} _" in proc.stdout
        assert f"ERROR test_suite.py::{test}" in proc.stdout
    assert proc.stdout.count(f"\n{reason}\n") == 2
    assert "SKIPPED [1] test_suite.py:21: bundled example data not found (set EMGAN_EXAMPLE_DATA)" in proc.stdout
