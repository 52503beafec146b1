"""Fixtures and checks for plugin test suites (a pytest plugin, loaded wherever emgan-core is installed).

Fixtures:

* ``data_dir``: the bundled example data (``examples/data`` of an emgan checkout, or the folder
  named by ``EMGAN_EXAMPLE_DATA``); tests using it skip when neither exists, except a test that
  calls :func:`check_plugin`: a plugin's contract fails, naming what is missing and how to give it,
  rather than pass unseen outside a checkout.
* ``shared_dir``: larger optional data (``../shared/data`` beside the checkout, or
  ``EMGAN_SHARED_DATA``); tests using it skip when absent.
* ``emgan``: runs the CLI, ``emgan(*args, cwd=None, check_rc=None, subprocess=False)``: in this
  process (fast: no interpreter or torch start-up) unless ``subprocess=True`` or ``cwd`` is given
  (or ``EMGAN_TEST_SUBPROCESS`` is set, to run a whole suite the slow way);
  either way it returns a ``CompletedProcess`` with the exit status and the text printed.

:func:`check_network_contract` checks what the trainer and inferers rely on from a registered
generator or critic.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import subprocess
import subprocess as _subprocess
import sys
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]


def _folder(env: str, default: Path) -> Path | None:
    path = Path(os.environ[env]) if os.environ.get(env) else default
    return path if path.is_dir() else None


#: the reason ``data_dir`` skips with; a test calling :func:`check_plugin` fails instead
EXAMPLE_DATA_MISSING = "bundled example data not found"


def example_data_help() -> str:
    """Where the example data were looked for, and how to provide them (one line)."""
    given = os.environ.get("EMGAN_EXAMPLE_DATA")
    folder = Path(given) if given else CHECKOUT / "examples" / "data"
    if folder.is_dir():
        looked = f"the example data folder {folder}{' (EMGAN_EXAMPLE_DATA)' if given else ''} does not hold them"
    elif given:
        looked = f"EMGAN_EXAMPLE_DATA={given} is not a folder"
    else:
        looked = f"{folder} does not exist (emgan-core is not installed from a checkout)"
    return (f"{looked}; set EMGAN_EXAMPLE_DATA to a folder holding emgan's example data (examples/data "
            "of an emgan checkout)")


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = _folder("EMGAN_EXAMPLE_DATA", CHECKOUT / "examples" / "data")
    if path is None:
        pytest.skip(f"{EXAMPLE_DATA_MISSING} (set EMGAN_EXAMPLE_DATA)")
    return path


def _calls_check_plugin(item) -> bool:
    code = getattr(getattr(item, "function", None), "__code__", None)
    return code is not None and "check_plugin" in code.co_names


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A plugin contract test (one that calls :func:`check_plugin`) whose ``data_dir`` (or a fixture
    built on it) skipped for want of the example data fails instead (an error at its set-up), saying
    how to provide them."""
    outcome = yield
    report = outcome.get_result()
    if (call.when == "setup" and report.skipped and call.excinfo is not None
            and EXAMPLE_DATA_MISSING in str(call.excinfo.value) and _calls_check_plugin(item)):
        report.outcome = "failed"
        report.longrepr = ("the plugin contract (check_plugin) cannot run without emgan's example data: "
                           f"{example_data_help()}")


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    path = _folder("EMGAN_SHARED_DATA", CHECKOUT.parent / "shared" / "data")
    if path is None:
        pytest.skip("larger example data (../shared/data) not present")
    return path


def _run_in_process(argv: list[str]) -> subprocess.CompletedProcess:
    """``emgan ARGV`` through :func:`emgan_core.cli.main.main` with stdout and stderr captured."""
    import contextlib
    import io

    from emgan_core.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse: --help (0) and usage errors (2)
            code = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(["emgan", *argv], code, out.getvalue(), err.getvalue())


def run_emgan(*args, cwd=None, check_rc=None, subprocess: bool = False) -> "subprocess.CompletedProcess":
    """Run the CLI and return a CompletedProcess with its exit status and text output: in this
    process by default, in a fresh interpreter with ``subprocess=True`` or a ``cwd`` (tests of
    signals, start-up, environment or import behaviour need that)."""
    argv = [str(a) for a in args]
    if subprocess or cwd is not None or os.environ.get("EMGAN_TEST_SUBPROCESS"):
        proc = _subprocess.run([sys.executable, "-m", "emgan_core.cli.main", *argv],
                               capture_output=True, text=True, cwd=cwd)
    else:
        proc = _run_in_process(argv)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stdout + proc.stderr
    return proc


@pytest.fixture(scope="session")
def emgan():
    return run_emgan


def pretend_memory(monkeypatch, nbytes: int) -> None:
    """Make the dry run of ``emgan validate``/``run`` see ``nbytes`` of memory on every device
    (``monkeypatch``: pytest's fixture), to test what a smaller machine is told."""
    from .training import dryrun

    monkeypatch.setattr(dryrun, "machine_memory", lambda device: (nbytes, "this machine's memory"))


def check_network_contract(kind: str, name: str, shape: tuple[int, ...], params: dict | None = None):
    """Build ``kind/name`` from the registry and check the contract: it is a torch module, runs on
    a (B, C, *spatial) batch of ``shape``, gives finite values, keeps the spatial size (generators),
    back-propagates to every parameter, and is the same function after a state-dict round trip.
    Returns the output."""
    import torch

    from emgan_core.registry import get_registry

    torch.manual_seed(0)
    net = get_registry().build(kind, name, **(params or {}))
    assert isinstance(net, torch.nn.Module)
    x = torch.rand(shape)
    out = net(x)
    assert torch.isfinite(out).all(), f"{kind}/{name}: non-finite output"
    if kind == "generator":
        assert out.shape[0] == shape[0] and out.shape[2:] == x.shape[2:], f"{kind}/{name}: {tuple(out.shape)}"
    out.float().mean().backward()
    dead = [n for n, p in net.named_parameters() if p.requires_grad and p.grad is None]
    assert not dead, f"{kind}/{name}: parameters without gradient: {dead[:5]}"
    twin = get_registry().build(kind, name, **(params or {}))
    twin.load_state_dict(net.state_dict(), strict=True)
    net.eval(), twin.eval()
    with torch.no_grad():
        assert torch.equal(net(x), twin(x)), f"{kind}/{name}: state dict does not carry the function"
    return out


def plugin_recipes(plugin: str) -> dict[str, Path]:
    """Name -> file of every recipe shipped by ``plugin`` (its registered name)."""
    from emgan_core.registry import get_registry

    return {p.stem: p for folder, owner in get_registry().recipe_dirs if owner == plugin
            for p in sorted(Path(folder).glob("*.y*ml"))}


def check_plugin(plugin: str, tmp_path: Path, recipe: str, overrides=(), source=None, infer_options=None,
                 user_data: tuple[str, ...] = (), params: dict[str, dict] | None = None):
    """The contract every plugin's tests run (docs/plugin-authoring.md), returning the inference output:

    0. its inputs exist (``source`` and the absolute file paths in ``overrides``: missing example data
       fail, naming ``EMGAN_EXAMPLE_DATA``), and importing its ``plugin.py`` imports no torch
       (:func:`check_plugin_import`);
    1. every component ``plugin`` registers builds with its default parameters (``params``: those of
       components with required ones, by key, e.g. ``{"generator/x": {"pixel_size": 1.0}}``);
    2. every recipe it ships validates, those named in ``user_data`` (recipes that name the user's
       own files or the outputs of an earlier command) on their schema only;
    3. ``recipe`` with ``overrides`` (tiny inputs, ``train.steps=1``) trains one step through the CLI,
       into a run folder with ``checkpoints/last.pt`` and no leftover temporary file;
    4. the checkpoint round-trips: :func:`~emgan_core.inference.load_for_inference` with the recipe's
       task gives networks whose weights equal the saved ones;
    5. ``task.infer(source, **infer_options)`` gives a finite Volume or ImageStack (skipped if
       ``source`` is None).
    """
    import numpy as np

    from emgan_core.volume import ImageStack, Volume

    _check_inputs(source, overrides)
    check_plugin_import(plugin_module(plugin))
    _check_components(plugin, params or {})
    _check_recipes(plugin, recipe, user_data)
    task = _train_one_step_and_reload(recipe, tmp_path, overrides)
    if source is None:
        return None
    from .settings.inference import apply_eval_options

    out = task.infer(source, **apply_eval_options(task, infer_options))
    assert isinstance(out, (Volume, ImageStack)), type(out)
    assert np.isfinite(out.data).all() and out.data.size > 0
    return out


#: an absolute path with a file suffix, inside an override such as ``data.train=[{map: /d/x.mrc}]``
_ABSOLUTE_FILE = re.compile(r"(?<![\w.])(/[^\s,\[\]{}'\"]*\.[A-Za-z0-9]+)(?=[\s,\]}'\"]|$)")


def _check_inputs(source, overrides) -> None:
    """Fail, naming the files and how to provide example data, when ``source`` (a path) or a file
    that an override names by absolute path does not exist."""
    named = [source] if isinstance(source, (str, os.PathLike)) else []
    named += [m for item in overrides for m in _ABSOLUTE_FILE.findall(str(item).partition("=")[2])]
    missing = list(dict.fromkeys(str(p) for p in named if not os.path.exists(p)))
    if missing:
        pytest.fail(f"check_plugin: input files missing: {', '.join(missing)}; if they are emgan's example data: "
                    f"{example_data_help()}", pytrace=False)


def plugin_module(plugin: str) -> str:
    """The module the entry point of ``plugin`` names (its ``plugin.py``), from the installed
    distributions; fails when no distribution installed here has one."""
    found = [ep.value.partition(":")[0] for ep in md.entry_points(group="emgan") if ep.name == plugin]
    if not found:
        pytest.fail(f"check_plugin: no installed distribution has an entry point '{plugin}' in the group "
                    f"'emgan': install the plugin first (pip install -e FOLDER)", pytrace=False)
    return found[0]


#: run in a fresh interpreter: import a module and say whether torch came with it, and through where
_IMPORT_PROBE = """\
import importlib, json, os, sys, traceback

MACHINERY = os.path.dirname(importlib.__file__)


class Watch:
    via = None

    def find_spec(self, name, path=None, target=None):
        if name == "torch" and Watch.via is None:
            Watch.via = [f"{f.filename}:{f.lineno}" for f in traceback.extract_stack()[:-1]
                         if not f.filename.startswith(("<", MACHINERY))]
        return None

sys.meta_path.insert(0, Watch())
importlib.import_module(sys.argv[1])
print(json.dumps({"torch": "torch" in sys.modules, "via": Watch.via}))
"""


def check_plugin_import(module: str) -> None:
    """Fail when importing ``module`` (a plugin's ``plugin.py``) in a fresh interpreter imports torch:
    emgan imports every plugin at start, so ``emgan plugins`` and ``emgan --help`` would wait for
    torch. The message names the chain of imports that brought it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = _subprocess.run([sys.executable, "-c", _IMPORT_PROBE, module], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.fail(f"check_plugin: importing {module} fails: {last}", pytrace=False)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["torch"]:
        via = " -> ".join(result["via"] or []) or "unknown"
        pytest.fail(f"check_plugin: importing {module} imports torch (via {via}): emgan imports every plugin "
                    "at start, so keep plugin.py to hook functions naming factories by import path "
                    "('package.module:Class') and import torch only inside functions", pytrace=False)


def _check_components(plugin: str, params: dict[str, dict]) -> None:
    """Every component of ``plugin`` builds, as an instance of its kind's interface."""
    import torch

    from emgan_core.interfaces import Loss, Simulator, Task
    from emgan_core.registry import get_registry

    registry = get_registry()
    mine = [e for e in registry.entries.values() if e.plugin == plugin]
    assert mine or plugin_recipes(plugin), f"plugin '{plugin}' registers nothing"
    expected = {"simulator": Simulator, "generator": torch.nn.Module, "critic": torch.nn.Module,
                "classifier": torch.nn.Module, "loss": Loss, "task": Task}
    for entry in mine:
        built = registry.build(entry.kind, entry.component.name, **params.get(entry.key, {}))
        assert isinstance(built, expected.get(entry.kind, object)) and (entry.kind != "metric" or callable(built)), \
            f"{entry.key} built a {type(built).__name__}"


def _check_recipes(plugin: str, recipe: str, user_data: tuple[str, ...]) -> None:
    """Every recipe of ``plugin`` validates (those in ``user_data`` on their schema only); a step's
    memory, which depends on the machine (paper recipes are written for a GPU), is not compared."""
    from emgan_core.recipes import load_recipe, validate

    recipes = plugin_recipes(plugin)
    assert recipe in recipes, f"'{recipe}' is not a recipe of plugin '{plugin}' ({', '.join(recipes)})"
    unknown = set(user_data) - set(recipes)
    assert not unknown, f"user_data names recipes the plugin does not ship: {sorted(unknown)}"
    for name, path in recipes.items():
        validate(load_recipe(path), files=name not in user_data, memory=False)


def _train_one_step_and_reload(recipe: str, tmp_path: Path, overrides):
    """``emgan run RECIPE train.steps=1 …``, checked for a complete run folder; returns the task
    loaded back for inference, its weights checked against the checkpoint's."""
    import torch

    from emgan_core.inference import load_for_inference
    from emgan_core.recipes import find_recipe, load_recipe

    run = tmp_path / f"{recipe}-contract"
    proc = run_emgan("run", recipe, "-o", run, "train.steps=1", *overrides)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (run / "checkpoints" / "last.pt").is_file(), sorted(p.name for p in run.rglob("*"))
    from emgan_core.io.atomic import is_temporary

    left = [p for p in run.rglob(".*") if is_temporary(p)]
    assert not left, f"temporary files left: {left}"  # atomic writes
    task_name = load_recipe(find_recipe(recipe)).data.get("task") or "paired"
    task_name = task_name["name"] if isinstance(task_name, dict) else task_name
    task, ckpt = load_for_inference(run, "cpu", task=task_name)
    for role, module in task.networks.items():
        state = (ckpt["state"]["ema"] or {}).get(role, ckpt["state"]["networks"][role])
        for key, value in module.state_dict().items():
            assert torch.equal(value.cpu(), state[key].cpu()), f"{role}.{key} differs after loading"
    return task
