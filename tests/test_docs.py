"""The documentation site: `mkdocs build --strict` succeeds, the API reference documents every public
name, and a broken cross-reference fails the build."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from emgan_core import api

ROOT = Path(__file__).resolve().parents[1]


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
                          capture_output=True, text=True, cwd=config.parent, timeout=300)


def _hook():
    spec = importlib.util.spec_from_file_location("emgan_docs_hook", ROOT / "docs" / "_hooks" / "api_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("docs") / "site"
    proc = _build(ROOT / "mkdocs.yml", site)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return site


def test_strict_build_documents_every_public_name(site):
    slug = _hook()._slug
    for page in ("architecture", "recipes", "training", "plugin-authoring", "reference"):
        assert (site / page / "index.html").is_file(), page
    missing = []
    for area, names in api._AREAS.items():
        html = (site / "reference" / slug(area) / "index.html").read_text()
        missing += [name for name in names if f'id="emgan_core.api.{name}"' not in html]
    assert not missing, f"names of emgan_core.api without an entry in the reference: {missing}"
    assert sorted(n for names in api._AREAS.values() for n in names) == api.__all__

    index = (site / "reference" / "index.html").read_text()
    assert "keep their meaning and their call signatures" in index  # the stability promise
    assert all(f'href="{slug(area)}/#emgan_core.api.{name}"' in index
               for area, names in api._AREAS.items() for name in names)

    testing = (site / "reference" / "testing" / "index.html").read_text()
    for name in ("check_plugin", "check_network_contract", "data_dir", "shared_dir", "emgan"):
        assert f'id="emgan_core.testing.{name}"' in testing, name
    # classes come with their members: the loader hook of PairedTask
    paired = (site / "reference" / "interfaces" / "index.html").read_text()
    assert 'id="emgan_core.api.PairedTask.pair_loaders"' in paired


def test_broken_cross_reference_fails_the_strict_build(tmp_path):
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("__pycache__"))
    page = tmp_path / "docs" / "recipes.md"
    page.write_text(page.read_text() + "\nSee [the reader][emgan_core.api.read_nothing].\n")
    proc = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert proc.returncode != 0
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("WARNING")]
    assert any("emgan_core.api.read_nothing" in line for line in warnings), proc.stdout + proc.stderr
    assert "Aborted with" in proc.stdout + proc.stderr
