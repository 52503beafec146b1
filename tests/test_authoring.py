"""Tools for plugin and recipe authors: ``emgan new-plugin`` (a complete plugin package from templates),
``emgan plugins show KIND/NAME`` (a component's parameters) and ``emgan schema`` (a JSON Schema of
recipes, checked here against every shipped recipe with the ``jsonschema`` package).

The end-to-end test (marked ``slow``) scaffolds both kinds from an empty folder, installs them into
a fresh venv that borrows this venv's packages (never into this venv), runs their own tests and
their quickstarts with that venv's Python, and reads the runs' outputs.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import jsonschema
import pytest
import yaml

from emgan_core.params import InputPath, Range

ROOT = Path(__file__).resolve().parents[1]
FILES = ["README.md", "emgan_{n}/__init__.py", "emgan_{n}/networks.py", "emgan_{n}/plugin.py",
         "emgan_{n}/recipes/{n}-quickstart.yaml", "emgan_{n}/task.py", "pyproject.toml", "tests/test_{n}.py"]


def _written(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# -- emgan new-plugin ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind, dims", [("paired", 3), ("images", 2)])
def test_new_plugin_writes_a_complete_package(emgan, tmp_path, kind, dims):
    proc = emgan("new-plugin", "my_method", "--kind", kind, "-o", tmp_path, check_rc=0)
    folder = tmp_path / "emgan-plugin-my-method"
    assert proc.stdout.splitlines()[0] == f"{folder}: {kind} plugin 'my_method', 8 files"
    assert f"pip install -e {folder}" in proc.stdout
    assert _written(folder) == sorted(f.format(n="my_method") for f in FILES)
    assert [p.name for p in tmp_path.iterdir()] == ["emgan-plugin-my-method"]  # no temporary left

    project = tomllib.loads((folder / "pyproject.toml").read_text())
    assert project["project"]["name"] == "emgan-plugin-my-method"
    assert project["project"]["dependencies"] == ["emgan-core>=0.3"]
    assert project["project"]["entry-points"]["emgan"] == {"my_method": "emgan_my_method.plugin"}
    assert "recipes/*.yaml" in project["tool"]["setuptools"]["package-data"]["emgan_my_method"]

    package = folder / "emgan_my_method"
    for path in folder.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")  # every template renders to Python
    plugin = ast.parse((package / "plugin.py").read_text())
    imported = {n.module for n in ast.walk(plugin) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(plugin) if isinstance(n, ast.Import) for a in n.names}
    assert imported == {"pathlib", "emgan_core.api"}  # no torch, nothing of its own package
    from test_import_graph import private_imports

    assert private_imports(sorted(folder.rglob("*.py"))) == []
    networks = (package / "networks.py").read_text()
    assert f"spatial_dims: Literal[2, 3] = {dims}" in networks and "class MyMethodGenerator(Generator)" in networks
    task = (package / "task.py").read_text()
    assert "class MyMethodTask(PairedTask)" in task and "def pair_loaders(self, split: str)" in task
    assert f"spatial_dims={dims}" in task

    recipe = yaml.safe_load((package / "recipes" / "my_method-quickstart.yaml").read_text())
    assert recipe["task"]["name"] == recipe["generator"]["name"] == "my-method"
    assert recipe["critic"]["params"]["spatial_dims"] == dims
    assert all("seed" in item for item in recipe["data"]["train"])  # its own data: no file named
    tests = (folder / "tests" / "test_my_method.py").read_text()
    assert 'check_plugin("my_method", tmp_path, "my_method-quickstart"' in tests
    assert "emgan run my_method-quickstart" in (folder / "README.md").read_text()


def test_a_scaffold_registers_and_its_quickstart_validates(emgan, tmp_path, monkeypatch, request):
    """Without installing it: the scaffold's plugin module registered beside the installed ones, its
    components built with their defaults, its quickstart validated (a step on the meta device)."""
    import importlib

    from emgan_core.recipes import load_recipe, validate
    from emgan_core.registry import collect, plugin_manager

    emgan("new-plugin", "scaffold_check", "--kind", "images", "-o", tmp_path, check_rc=0)
    monkeypatch.syspath_prepend(str(tmp_path / "emgan-plugin-scaffold-check"))
    request.addfinalizer(lambda: [sys.modules.pop(m) for m in list(sys.modules)
                                  if m.split(".")[0] == "emgan_scaffold_check"])
    module = importlib.import_module("emgan_scaffold_check.plugin")
    broken: dict = {}
    pm, origin = plugin_manager([("scaffold_check", module, "emgan-plugin-scaffold-check", "0.1.0")], broken)
    registry = collect(pm, origin, broken)
    assert registry.plugins["scaffold_check"] == ("emgan-plugin-scaffold-check", "0.1.0")
    assert "scaffold_check" not in registry.broken
    generator = registry.build("generator", "scaffold-check")
    assert generator.spatial_dims == 2
    task = registry.build("task", "scaffold-check")
    assert task.spatial_dims == 2 and task.noise == 0.5
    (folder, _), = [d for d in registry.recipe_dirs if d[1] == "scaffold_check"]
    recipe = load_recipe(folder / "scaffold_check-quickstart.yaml")
    validate(recipe, registry, memory=False)
    task.data = recipe.data["data"]
    (loader,) = task.pair_loaders("val")
    inp, target = loader()
    assert inp.shape == target.shape == (1, 16, 32, 32)


@pytest.mark.parametrize("argv, where, needle", [
    (["My-Plugin"], "My-Plugin", "not a plugin name"),
    (["2d"], "2d", "not a plugin name"),
    (["a__b"], "a__b", "not a plugin name"),
    (["denoise"], "denoise", "plugin 'denoise' is installed already (emgan-plugin-denoise"),
    (["unet"], "unet", "generator/unet is registered already by plugin 'core'"),
    (["paired"], "paired", "task/paired is registered already by plugin 'core'"),
    (["fresh", "-o", "{tmp}/missing"], "{tmp}/missing", "folder does not exist"),
    (["taken"], "{tmp}/emgan-plugin-taken", "exists already"),
    (["fresh", "--kind", "volumes"], "new-plugin", "argument --kind: invalid choice: 'volumes'"),
])
def test_new_plugin_refuses_in_one_line(emgan, tmp_path, argv, where, needle):
    (tmp_path / "emgan-plugin-taken").mkdir()
    argv = [a.format(tmp=tmp_path) for a in argv]
    proc = emgan("new-plugin", *argv, *(["-o", tmp_path] if "-o" not in argv else []))
    assert proc.returncode == 2 and proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and needle in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"emgan: error: {where.format(tmp=tmp_path)}: ")
    assert [p.name for p in tmp_path.iterdir()] == ["emgan-plugin-taken"]  # nothing written
    assert list((tmp_path / "emgan-plugin-taken").iterdir()) == []


def test_the_templates_are_package_data():
    """Every template file is matched by the core's package-data globs, so wheels carry them."""
    globs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["emgan_core"]
    templates = sorted((ROOT / "emgan_core" / "scaffold" / "templates").rglob("*"))
    shipped = {p for pattern in globs for p in (ROOT / "emgan_core").glob(pattern)}
    assert [p for p in templates if p.is_file() and p not in shipped] == []
    assert len(shipped) >= 10 and all(p.suffix == ".tmpl" for p in shipped)


@pytest.mark.parametrize("command", ["new-plugin", "schema"])
def test_help_has_an_example(emgan, command):
    proc = emgan(command, "--help", check_rc=0)
    assert "example:" in proc.stdout and f"emgan {command}" in proc.stdout


# -- emgan plugins show ----------------------------------------------------------------------------

def test_plugins_show_lists_types_defaults_and_limits(emgan):
    proc = emgan("plugins", "show", "generator/unet", check_rc=0)
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("generator/unet  (core: emgan-core ")
    assert lines[2] == "  factory: emgan_core.networks:UNetGenerator"
    rows = {line.split()[0]: line for line in lines[4:]}
    assert rows["parameter"].split() == ["parameter", "type", "default", "limits"]
    assert rows["depth"].split()[:7] == ["depth", "int", "8", "≥", "1", "and", "≤"]
    assert "one of 'batch', 'instance', 'none'  'batch'" in rows["norm"]
    assert "number of down-samplings" in rows["depth"]  # its Args: text
    proc = emgan("plugins", "show", "generator/unet", "--json", check_rc=0)
    shown = json.loads(proc.stdout)
    assert (shown["kind"], shown["name"], shown["plugin"]) == ("generator", "unet", "core")
    depth = next(p for p in shown["parameters"] if p["name"] == "depth")
    assert depth == {"name": "depth", "type": "int", "required": False, "default": 8, "limits": "≥ 1 and ≤ 12",
                     "description": depth["description"]}


def test_plugins_show_takes_a_bare_name_and_plugin_components(emgan):
    proc = emgan("plugins", "show", "patchgan", check_rc=0)
    assert proc.stdout.startswith("critic/patchgan  (core: emgan-core ")
    proc = emgan("plugins", "show", "generator/denoise-unet", check_rc=0)
    assert proc.stdout.startswith("generator/denoise-unet  (denoise: emgan-plugin-denoise ")
    assert "  factory: emgan_denoise.networks:DenoiseUNet" in proc.stdout
    proc = emgan("plugins", "show", "metric/fsc", "--json", check_rc=0)
    assert json.loads(proc.stdout)["parameters"][0] == {"name": "thresholds", "type": "a list of float",
                                                        "required": False, "default": [0.5, 0.143], "limits": "",
                                                        "description": ""}
    proc = emgan("plugins", "show", "loss/l1", check_rc=0)
    assert proc.stdout.splitlines()[-1] == "  parameters: none"


@pytest.mark.parametrize("argv, needle", [
    (["generator/unte"], "generator/unte: no such component (did you mean 'generator/unet'"),
    (["genrator/unet"], "genrator/unet: no such component (did you mean 'generator/unet'"),
    (["unte"], "unte: no such component (did you mean 'generator/unet'"),
    (["struc2mapgan"], "struc2mapgan: several components have this name: give one of critic/struc2mapgan, "
                       "task/struc2mapgan"),
    ([], "plugins show needs a component as KIND/NAME"),
])
def test_plugins_show_unknown_is_one_line(emgan, argv, needle):
    proc = emgan("plugins", "show", *argv)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith("emgan: error: ") and needle in proc.stderr, proc.stderr


# -- emgan schema ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    from emgan_core.testing import run_emgan

    path = tmp_path_factory.mktemp("schema") / "emgan-recipe.schema.json"
    proc = run_emgan("schema", "-o", path, check_rc=0)
    assert proc.stdout == "" and proc.stderr.startswith(f"{path}: JSON Schema (https://json-schema.org/draft/2020-12/")
    return json.loads(path.read_text())


def _shipped() -> dict[str, Path]:
    from emgan_core.recipes import shipped_recipes

    return {name: path for name, (path, _) in shipped_recipes().items()}


def _errors(schema, recipe) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(recipe)]


def test_the_schema_is_a_draft_2020_12_schema_of_every_component(schema):
    from emgan_core.recipes import SECTIONS
    from emgan_core.registry import get_registry

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    registry = get_registry()
    components = {f"{e.kind}:{e.component.name}" for e in registry.entries.values()}
    assert {k for k in schema["$defs"] if ":" in k} == components
    assert set(schema["properties"]) == set(SECTIONS)
    unet = schema["$defs"]["generator:unet"]["oneOf"][1]["properties"]["params"]["properties"]
    assert unet["depth"] == {"type": "integer", "minimum": 1, "maximum": 12, "default": 8,
                             "description": unet["depth"]["description"]}
    assert unet["norm"]["enum"] == ["batch", "instance", "none"] and unet["norm"]["default"] == "batch"
    train = schema["properties"]["train"]["properties"]
    assert train["steps"] == {"type": "integer", "minimum": 1, "default": 1000}
    assert train["precision"]["enum"] == ["fp32", "bf16", "fp16"]


@pytest.mark.parametrize("name", sorted(_shipped()))
def test_every_shipped_recipe_fits_the_schema(schema, name):
    from emgan_core.recipes import load_yaml

    assert _errors(schema, load_yaml(_shipped()[name].read_text())) == []


RECIPE = """\
task: {name: paired, params: {conditional: true}}
generator: {name: unet, params: {channels: 4, depth: 2, spatial_dims: 3}}
critic: {name: patchgan, params: {in_channels: 2, channels: 4, layers: 1, spatial_dims: 3}}
losses: [{name: bce, weight: 1.0}, {name: l1, weight: 100.0}]
metrics: [pearson, {name: fsc, params: {thresholds: [0.5]}}]
data:
  train: [{input: a.mrc, target: b.mrc}]
train: {steps: 2, batch_size: 2, patch_size: 16, optimizer: {name: adam, lr: 2.0e-4, betas: [0.5, 0.999]}}
"""


def test_typos_and_values_out_of_range_fail_the_schema(schema):
    recipe = yaml.safe_load(RECIPE)
    assert _errors(schema, recipe) == []

    def changed(edit) -> list[str]:
        copied = copy.deepcopy(recipe)
        edit(copied)
        return _errors(schema, copied)

    assert changed(lambda r: r["generator"]["params"].update(chanels=4)) == [
        "generator: {'name': 'unet', 'params': {'channels': 4, 'depth': 2, 'spatial_dims': 3, 'chanels': 4}} is "
        "not valid under any of the given schemas"]
    assert changed(lambda r: r["generator"]["params"].update(depth=13))  # Range(min=1, max=12)
    assert changed(lambda r: r["critic"]["params"].update(layers=9))  # Range(min=0, max=8)
    assert changed(lambda r: r["critic"]["params"].update(norm="batchnorm"))  # Literal
    assert changed(lambda r: r["critic"]["params"].update(channels=4.5))  # int
    assert changed(lambda r: r["task"].update(name="pared"))
    assert changed(lambda r: r["metrics"].append("pearsn"))
    assert changed(lambda r: r["metrics"][1]["params"].update(thresholds=0.5))  # a list
    assert changed(lambda r: r["train"].update(batch_size=0)) == ["train.batch_size: 0 is less than the minimum of 1"]
    assert changed(lambda r: r["train"].update(stepz=3)) == [
        "train: Additional properties are not allowed ('stepz' was unexpected)"]
    assert changed(lambda r: r["train"]["optimizer"].update(lr=0)) == [
        "train.optimizer.lr: 0 is less than or equal to the minimum of 0"]
    assert changed(lambda r: r["data"]["train"][0].update(targt="x.mrc")) == [  # list[Pair] | InputPath
        "data.train: [{'input': 'a.mrc', 'target': 'b.mrc', 'targt': 'x.mrc'}] is not valid under any of the "
        "given schemas"]
    assert changed(lambda r: r["data"].update(tran=[])) == [
        "data: Additional properties are not allowed ('tran' was unexpected)"]
    assert changed(lambda r: r.update(generatr=r["generator"])) == [
        ": Additional properties are not allowed ('generatr' was unexpected)"]
    assert changed(lambda r: r["train"].update(augment={"anisotropy": 0})) == []  # Range(min=1.5, also=(0,))
    assert changed(lambda r: r["train"].update(augment={"anisotropy": 1.2}))


def test_hint_schemas():
    from emgan_core.schema import hint_schema

    assert hint_schema(Annotated[float, Range(gt=0, lt=1)]) == {"type": "number", "exclusiveMinimum": 0,
                                                                "exclusiveMaximum": 1}
    assert hint_schema(Annotated[list[int], Range(min=1)]) == {"type": "array", "items": {"type": "integer",
                                                                                          "minimum": 1}}
    assert hint_schema(tuple[float, float]) == {"type": "array", "prefixItems": [{"type": "number"}] * 2,
                                                "minItems": 2, "maxItems": 2}
    assert hint_schema(int | None) == {"type": ["integer", "null"]}
    assert hint_schema(Literal["a", "b"]) == {"enum": ["a", "b"]}
    assert hint_schema(InputPath)["type"] == "string"


def test_schema_prints_without_o_and_keeps_an_existing_file(emgan, tmp_path):
    printed = json.loads(emgan("schema", check_rc=0).stdout)
    assert printed["title"] == "emgan recipe"
    target = tmp_path / "schema.json"
    target.write_text("mine")
    proc = emgan("schema", "-o", target)
    assert proc.returncode == 2 and "exists already: not overwritten (give --overwrite" in proc.stderr
    assert target.read_text() == "mine"
    emgan("schema", "-o", target, "--overwrite", check_rc=0)
    assert json.loads(target.read_text()) == printed


# -- end to end: scaffold, install into a fresh venv, test, run -------------------------------------

def _run(*args, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env)


def _fresh_venv(folder: Path) -> Path:
    """A venv made by this venv's Python with --system-site-packages, which borrows this venv's
    packages (torch, emgan-core, pip, setuptools …) through a .pth line: what it installs stays in it."""
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(folder)], check=True)
    python = folder / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=folder).stdout.strip())
    (site / "emgan-borrowed.pth").write_text(f"import site; site.addsitedir({sysconfig.get_path('purelib')!r})\n")
    return python


@pytest.mark.slow
def test_a_new_plugin_installs_passes_its_tests_and_runs_its_quickstart(tmp_path):
    """From an empty folder: ``emgan new-plugin`` of each kind, ``pip install --no-deps
    --no-build-isolation`` into a fresh venv, the scaffolds' own tests (check_plugin included) and
    ``emgan run NAME-quickstart``, unchanged, with that venv's Python. About a minute on 2 cores."""
    work = tmp_path / "empty"
    work.mkdir()
    plugins = {"tiny3d": "paired", "tiny2d": "images"}
    for name, kind in plugins.items():
        proc = _run(sys.executable, "-m", "emgan_core.cli.main", "new-plugin", name, "--kind", kind, cwd=work)
        assert proc.returncode == 0, proc.stderr
    python = _fresh_venv(tmp_path / "venv")
    proc = _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
                "--disable-pip-version-check", *(work / f"emgan-plugin-{n}" for n in plugins), cwd=work)
    assert proc.returncode == 0, proc.stderr
    emgan = [python, "-m", "emgan_core.cli.main"]
    listed = _run(*emgan, "plugins", cwd=work)
    assert "BROKEN" not in listed.stdout and listed.returncode == 0, listed.stderr
    for name in plugins:
        assert f"{name}  (emgan-plugin-{name} 0.1.0)" in listed.stdout
        assert f"  task/{name} " in listed.stdout and f"  generator/{name} " in listed.stdout

    proc = _run(python, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
                *(work / f"emgan-plugin-{n}" / "tests" for n in plugins), cwd=work)
    assert proc.returncode == 0 and "6 passed" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-2000:]

    for name in plugins:
        run = work / "runs" / name
        proc = _run(*emgan, "run", f"{name}-quickstart", "-o", run, cwd=work)
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert (run / "checkpoints" / "last.pt").is_file()
        assert yaml.safe_load((run / "recipe.yaml").read_text())["task"]["name"] == name
        validation = json.loads((run / "metrics.json").read_text())["validation"]
        assert validation[0]["step"] == 0 and validation[-1]["step"] == {"tiny3d": 30, "tiny2d": 40}[name]
        assert validation[-1]["val/l1"] < 0.8 * validation[0]["val/l1"], validation  # it learns
    import importlib.metadata as md

    for name in plugins:  # installed into the fresh venv only
        with pytest.raises(md.PackageNotFoundError):
            md.distribution(f"emgan-plugin-{name}")
