"""The packages as a user gets them: shipped recipes find their data from any folder.

* Recipe paths: relative paths are taken from the current folder, else from the recipe's folder.
* Wheels: emgan-core and the five plugins are built (from a copy of their sources, so nothing is
  written into the checkout), installed non-editable with no index into a fresh venv that borrows
  its dependencies (torch, numpy, …) from this one but none of its emgan distributions, and
  ``emgan`` is run there from an empty folder: ``plugins``, ``recipes``, ``validate`` of every
  shipped recipe (fully where the plugin ships the data, ``--no-files`` where the data are the
  user's), the struc2mapGAN curation of the shipped pairs, and every quickstart, one command each
  (``emgan run NAME-quickstart -o RUN train.steps=2``, with fewer data items where the recipe
  simulates them): the data the struc2mapGAN, CryoETGAN and DiffraGAN quickstarts build on first
  use go to the emgan cache (``EMGAN_CACHE``, a temporary folder here), nothing but the run into the
  current folder, and a second run finds them there.

The wheel tests are marked ``slow`` (``pytest -m "not slow"`` leaves them out); building and
installing takes about 30 s on 2 CPU cores, once per session, and the five quickstarts about two
minutes more.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from emgan_core import EmganError
from emgan_core.recipes import load_recipe, validate

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"
PLUGINS = ("cryoetgan", "denoise", "diffragan", "struc2mapgan", "superem")
#: files each plugin ships in emgan_NAME/recipes/data/ (links to examples/data in the checkout)
SHIPPED = {
    "cryoetgan": ["1ubq.pdb", "3J6B_chain9.pdb", "8i2h_ref.pdb"],
    "denoise": ["1a0k.pdb", "1aki.pdb", "1orc.pdb", "1ubq.pdb"],
    "diffragan": ["1a0k.pdb", "1aki.pdb", "1orc.pdb", "1ubq.pdb"],
    "struc2mapgan": ["3J6B_chain9.pdb", "3JB0_chainD.pdb", "emd2566_3J6B_chain9.mrc", "emd6374_3JB0_chainD.mrc",
                     "emringerweb_test_map.ccp4", "emringerweb_test_model.pdb", "struc2mapgan_pairs.csv"],
    "superem": ["3J6B_chain9.pdb", "emd2566_3J6B_chain9.mrc"],
}
#: recipes whose data the plugin ships: validated with their files
FULL = {"cryoetgan-quickstart", "denoise-quickstart", "denoise-small", "diffragan-quickstart", "diffragan",
        "struc2mapgan-quickstart", "superem-quickstart"}
#: recipes reading the user's data or an earlier command's output: validated with --no-files
SCHEMA_ONLY = {"cryoetgan", "cryoetgan-classifier", "cryoetgan-microtubules", "denoise", "struc2mapgan",
               "struc2mapgan-small", "superem"}


def _shipped_recipe_names() -> set[str]:
    return {p.stem for p in ROOT.glob("plugins/emgan-plugin-*/emgan_*/recipes/*.yaml")}


def test_every_shipped_recipe_is_classified():
    assert _shipped_recipe_names() == FULL | SCHEMA_ONLY and not FULL & SCHEMA_ONLY


@pytest.mark.parametrize("plugin", PLUGINS)
def test_shipped_data_are_links_into_examples_data(plugin):
    """One copy of the bytes in git: each shipped file is a relative link that resolves in a checkout."""
    folder = ROOT / f"plugins/emgan-plugin-{plugin}/emgan_{plugin}/recipes/data"
    for name in SHIPPED[plugin] + ["README.md"]:
        link = folder / name
        assert link.is_symlink() and not os.path.isabs(os.readlink(link)), link
        assert link.resolve() == (DATA / name).resolve()


# -- the path rule ---------------------------------------------------------------------------------

RECIPE = """\
task: {name: paired}
generator: {name: unet}
data:
  train: [{input: data/a.mrc, target: data/b.mrc}]
  note: not a path
eval: {inputs: [data/a.mrc]}
"""


def test_relative_paths_fall_back_to_the_recipe_folder(tmp_path, monkeypatch):
    (tmp_path / "r" / "data").mkdir(parents=True)
    (tmp_path / "cwd" / "data").mkdir(parents=True)
    for f in ("r/data/a.mrc", "r/data/b.mrc", "cwd/data/b.mrc"):
        (tmp_path / f).write_text("x")
    (tmp_path / "r" / "recipe.yaml").write_text(RECIPE)
    monkeypatch.chdir(tmp_path / "cwd")
    recipe = load_recipe(tmp_path / "r" / "recipe.yaml")
    item = recipe.data["data"]["train"][0]
    assert item["input"] == str(tmp_path / "r" / "data" / "a.mrc")  # missing here: the recipe's folder
    assert item["target"] == "data/b.mrc"                           # found here: the current folder wins
    assert recipe.data["eval"]["inputs"] == [str(tmp_path / "r" / "data" / "a.mrc")]
    assert recipe.data["data"]["note"] == "not a path"
    assert recipe.resolved == {"data.train.0.input": ("data/a.mrc", item["input"]),
                               "eval.inputs.0": ("data/a.mrc", item["input"])}
    # an override is a path like any other; one found nowhere is kept as written
    recipe = load_recipe(Path("..") / "r" / "recipe.yaml", ["data.train.0.target=data/gone.mrc"])
    assert recipe.data["data"]["train"][0]["target"] == "data/gone.mrc"
    assert recipe.data["data"]["train"][0]["input"] == str(tmp_path / "r" / "data" / "a.mrc")


def test_files_found_nowhere_keep_their_message(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "recipe.yaml"
    path.write_text("generator: {name: unet, params: {depth: 4, spatial_dims: 3}}\ndata:\n  train:\n"
                    "    - {target: data/gone.mrc, model: data/gone.pdb}\n")
    with pytest.raises(EmganError) as err:
        validate(load_recipe(path))
    assert err.value.line().splitlines() == [f"{path}:4: data.train.0.{k}: file not found: data/gone.{ext}"
                                             for k, ext in (("target", "mrc"), ("model", "pdb"))]
    validate(load_recipe(path), files=False)  # schema only: the file is not looked for


# -- the wheels in a fresh venv --------------------------------------------------------------------

def _copy_sources(src: Path) -> list[Path]:
    """The core's and the plugins' sources under ``src`` in the checkout's layout (the plugins'
    relative links included, examples/data linked), without build leftovers or tests."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist", "tests")
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "emgan_core", src / "emgan_core", ignore=skip)
    (src / "examples").mkdir()
    (src / "examples" / "data").symlink_to(DATA)
    dirs = [src]
    for plugin in PLUGINS:
        dirs.append(src / "plugins" / f"emgan-plugin-{plugin}")
        shutil.copytree(ROOT / "plugins" / f"emgan-plugin-{plugin}", dirs[-1], symlinks=True, ignore=skip)
    return dirs


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> dict[str, Path]:
    """Distribution name -> wheel, built with this venv's pip and setuptools (no index, no isolation)."""
    tmp = tmp_path_factory.mktemp("wheels")
    dirs = _copy_sources(tmp / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(tmp / "dist"), *map(str, dirs)], check=True)
    built = {p.name.split("-")[0]: p for p in (tmp / "dist").glob("*.whl")}
    assert set(built) == {"emgan_core"} | {f"emgan_plugin_{p}" for p in PLUGINS}
    return built


@pytest.fixture(scope="module")
def venv(wheels, tmp_path_factory) -> Path:
    """A fresh venv holding the six wheels, its other packages borrowed from this venv through a
    folder of links to every entry of this venv's site-packages but the emgan ones."""
    tmp = tmp_path_factory.mktemp("venv")
    env = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    python = env / "bin" / "python"
    site = Path(subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    ours = Path(sysconfig.get_path("purelib"))
    deps = tmp / "deps"
    deps.mkdir()
    for entry in ours.iterdir():
        name = entry.name.lower()
        if "emgan" in name or name.startswith("__editable__") or name.endswith(".pth") or name == "__pycache__":
            continue
        (deps / entry.name).symlink_to(entry)
    (site / "emgan-test-deps.pth").write_text(f"{deps}\n")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--disable-pip-version-check",
                    *map(str, wheels.values())], check=True, cwd=tmp)
    return env


def _run(venv: Path, *args, cwd: Path, cache: Path | None = None) -> subprocess.CompletedProcess:
    """``args`` run in ``cwd`` with the emgan cache in ``cache`` (default: a folder beside ``cwd``),
    never the user's."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = env.get("OMP_NUM_THREADS", "1")
    env["EMGAN_CACHE"] = str(cache or Path(cwd).parent / "emgan-cache")
    env.pop("EMGAN_PROGRESS", None)  # progress as a user sees it (lines: stderr is not a terminal)
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env)


def _site(venv: Path) -> str:
    return str(next((venv / "lib").glob("python*/site-packages")))


def _empty(tmp_path: Path, name: str = "empty") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("plugin", PLUGINS)
def test_wheels_hold_the_recipes_and_their_data(wheels, plugin):
    with zipfile.ZipFile(wheels[f"emgan_plugin_{plugin}"]) as whl:
        entries = {i.filename: i for i in whl.infolist()}
        data = {n.rsplit("/", 1)[1]: i for n, i in entries.items() if n.startswith(f"emgan_{plugin}/recipes/data/")}
        assert sorted(data) == sorted(SHIPPED[plugin] + ["README.md"])
        for name, info in data.items():  # the links' targets, copied: regular files with the same bytes
            assert (info.external_attr >> 16) & 0o170000 != 0o120000
            assert whl.read(info) == (DATA / name).read_bytes()
        recipes = {n.rsplit("/", 1)[1] for n in entries if n.startswith(f"emgan_{plugin}/recipes/") and n.endswith(".yaml")}
    assert {r[:-5] for r in recipes} == {p.stem for p in ROOT.glob(f"plugins/*/emgan_{plugin}/recipes/*.yaml")}


@pytest.mark.slow
def test_the_fresh_venv_holds_only_the_wheels(venv, tmp_path):
    proc = _run(venv, venv / "bin" / "python", "-c", textwrap.dedent("""\
        import importlib.metadata as md, json, emgan_core, emgan_superem, torch
        names = [d.metadata["Name"] for d in md.distributions() if "emgan" in d.metadata["Name"]]
        print(json.dumps({"names": names, "core": emgan_core.__file__, "superem": emgan_superem.__file__,
                          "direct_url": md.distribution("emgan-core").read_text("direct_url.json")}))
        """), cwd=_empty(tmp_path))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert sorted(out["names"]) == ["emgan-core"] + [f"emgan-plugin-{p}" for p in PLUGINS]
    for module in ("core", "superem"):
        assert out[module].startswith(_site(venv) + os.sep) and not out[module].startswith(str(ROOT))
    assert '"editable"' not in (out["direct_url"] or "")


@pytest.mark.slow
def test_emgan_runs_from_an_empty_folder(venv, tmp_path):
    folder, emgan, site = _empty(tmp_path), venv / "bin" / "emgan", _site(venv)
    proc = _run(venv, emgan, "plugins", cwd=folder)
    assert proc.returncode == 0 and "BROKEN" not in proc.stdout, proc.stderr
    for plugin in PLUGINS:
        assert f"{plugin}  (emgan-plugin-{plugin} 0.3.0)" in proc.stdout
    proc = _run(venv, emgan, "recipes", cwd=folder)
    assert proc.returncode == 0 and {ln.split()[0] for ln in proc.stdout.splitlines()} == FULL | SCHEMA_ONLY
    proc = _run(venv, emgan, "validate", "superem-quickstart", cwd=folder)
    assert proc.returncode == 0, proc.stderr
    recipes = f"{site}/emgan_superem/recipes"
    assert proc.stdout.splitlines() == [
        f"{recipes}/superem-quickstart.yaml: ok (8 sections)",
        f"  from the recipe's folder {recipes}: data/emd2566_3J6B_chain9.mrc, data/3J6B_chain9.pdb"]
    assert _run(venv, emgan, "recipes", "path", "superem-quickstart", cwd=folder).stdout.strip() \
        == f"{recipes}/superem-quickstart.yaml"
    assert list(folder.iterdir()) == []


VALIDATE_ALL = """\
import contextlib, io, json, sys
from emgan_core.cli.main import main
from emgan_core.recipes import load_recipe

def emgan(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return {"rc": code, "out": out.getvalue(), "err": err.getvalue()}

full, schema = json.loads(sys.argv[1]), json.loads(sys.argv[2])
result = {name: emgan("validate", name) for name in full}
result.update({name: emgan("validate", name, "--no-files") for name in schema})
result["denoise-quickstart:data"] = load_recipe("denoise-quickstart").data["data"]
pairs = load_recipe("struc2mapgan-quickstart").path.parent / "data" / "struc2mapgan_pairs.csv"
result["curate"] = emgan("struc2mapgan", "curate", str(pairs), "-o", "out/curated")
print(json.dumps(result))
"""


@pytest.mark.slow
def test_every_shipped_recipe_validates_from_an_empty_folder(venv, tmp_path):
    """Full validation where the plugin ships the data; schema only (--no-files) where the data are
    the user's; `curate` of the shipped pairs by hand still works from an empty folder."""
    folder, site = _empty(tmp_path), _site(venv)
    proc = _run(venv, venv / "bin" / "python", "-c", VALIDATE_ALL, json.dumps(sorted(FULL)),
                json.dumps(sorted(SCHEMA_ONLY)), cwd=folder)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    for name in FULL | SCHEMA_ONLY:
        assert result[name]["rc"] == 0, result[name]["err"]
        first = result[name]["out"].splitlines()[0]
        assert first.startswith(f"{site}/emgan_") and f"/recipes/{name}.yaml: ok (" in first
        assert ("schema only, input files not checked" in first) == (name in SCHEMA_ONLY)
    for name in FULL:
        plugin = name.split("-")[0]
        assert f"  from the recipe's folder {site}/emgan_{plugin}/recipes: data/" in result[name]["out"]
    items = result["denoise-quickstart:data"]["train"] + result["denoise-quickstart:data"]["val"]
    assert [i["structure"] for i in items] == [f"{site}/emgan_denoise/recipes/data/{n}.pdb"
                                              for n in ("1aki", "1a0k", "1ubq", "1aki", "1orc")]
    assert result["curate"]["rc"] == 0, result["curate"]["err"]
    assert "3 of 3 pairs kept" in result["curate"]["err"]
    assert (folder / "out" / "curated" / "curated.csv").is_file()


# -- every quickstart, one command from an empty folder ---------------------------------------------

#: overrides of the quickstarts' plumbing for the test's time (fewer or smaller simulated data
#: items, fewer validation batches); the recipes' own data otherwise
QUICK = {
    "struc2mapgan": [],
    "superem": ["train.val_batches=1"],
    "denoise": [f"data.train.{i}.count=32" for i in range(3)] + [f"data.val.{i}.count=8" for i in range(2)],
    "diffragan": [f"data.train.{i}.orientations=4" for i in range(3)] + ["data.val.0.orientations=4"],
    "cryoetgan": [f"data.{split}.{d}.0.count=4" for split in ("train", "val") for d in ("a", "b")],
}
#: what the quickstarts build on first use: cache kind -> entries, and the progress they show
BUILT = {"struc2mapgan": ("struc2mapgan-curated", 1, "emgan: curating pairs: "),
         "cryoetgan": ("cryoetgan-sets", 3, "emgan: simulating 1ubq, 3J6B_chain9, 8i2h_ref: "),
         "diffragan": ("diffragan-triplets", 2, "emgan: simulating triplets of 1a0k, 1aki, 1ubq: ")}


@pytest.mark.slow
@pytest.mark.parametrize("plugin", PLUGINS)
def test_every_quickstart_runs_from_an_empty_folder(venv, plugin, tmp_path):
    """`emgan run NAME-quickstart -o run train.steps=2` in an empty folder finishes (a checkpoint);
    data built on first use go to the emgan cache, not the folder, and a second run from another
    empty folder takes them from there."""
    emgan, cache = venv / "bin" / "emgan", tmp_path / "cache"
    command = ["run", f"{plugin}-quickstart", "-o", "run", "train.steps=2", *QUICK[plugin]]
    first = _empty(tmp_path, "first")
    proc = _run(venv, emgan, *command, cwd=first, cache=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (first / "run" / "checkpoints" / "last.pt").is_file()
    assert [p.name for p in first.iterdir()] == ["run"]  # nothing else written into the current folder
    if plugin not in BUILT:
        assert not (cache / "data").exists()
        return
    kind, count, shown = BUILT[plugin]
    entries = sorted((cache / "data" / kind).iterdir())
    assert len(entries) == count and all((e / "emgan-cache.json").is_file() for e in entries), entries
    assert shown in proc.stderr and proc.stderr.count("into the cache") == count
    second = _empty(tmp_path, "second")
    proc = _run(venv, emgan, *command, cwd=second, cache=cache)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (second / "run" / "checkpoints" / "last.pt").is_file()
    assert "into the cache" not in proc.stderr and shown not in proc.stderr
    assert {line.rsplit(", ", 1)[-1] for line in proc.stderr.splitlines() if "from the cache" in line} \
        == {str(e) for e in entries}
    assert sorted((cache / "data" / kind).iterdir()) == entries

