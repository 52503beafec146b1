"""Trained models as registered components: shipped or fetched files checked by SHA-256, cached,
usable offline from a given path, refused when a hash differs; `emgan models` and model names
wherever a checkpoint is taken."""

import hashlib
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from emgan_core import EmganError, Model, ModelFile, hookimpl
from emgan_core.io import read_map


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def trained(example_plugin, data_dir, tmp_path_factory, emgan):
    """A tiny paired model exported for shipping (networks only)."""
    folder = tmp_path_factory.mktemp("trained")
    m = str(data_dir / "emd2566_3J6B_chain9.mrc")
    recipe = folder / "r.yaml"
    recipe.write_text(yaml.safe_dump({
        "task": {"name": "paired"}, "generator": {"name": "toy-conv", "params": {"channels": 4, "depth": 1}},
        "losses": [{"name": "l1"}], "data": {"train": [{"input": m, "target": m}]},
        "train": {"steps": 2, "batch_size": 2, "patch_size": 8, "checkpoint_every": 2},
        "eval": {"window": 16, "window_core": 8, "blend": "crop"}}))
    emgan("run", recipe, "-o", folder / "run", check_rc=0)
    proc = emgan("models", "export", folder / "run", "-o", folder / "tiny.pt", check_rc=0)
    assert f"sha256 {_digest(folder / 'tiny.pt')}" in proc.stdout
    shipped = torch.load(folder / "tiny.pt", weights_only=False)
    assert shipped["recipe"]["data"] == {"train": [{"input": "emd2566_3J6B_chain9.mrc",
                                                     "target": "emd2566_3J6B_chain9.mrc"}]}
    assert set(shipped["state"]) == {"networks", "ema"}
    return folder


@pytest.fixture
def registry_with(monkeypatch, tmp_path):
    """Install a plugin holding ``models`` for the duration of a test (the CLI sees it)."""
    import emgan_core.registry as registry

    monkeypatch.setenv("EMGAN_CACHE", str(tmp_path / "cache"))

    def install(*models):
        module = types.SimpleNamespace(emgan_models=hookimpl(lambda: list(models)))
        pm, origin = registry.plugin_manager([("modelzoo", module, "emgan-plugin-modelzoo", "1.0")])
        reg = registry.collect(pm, origin, pm.broken)
        monkeypatch.setattr(registry, "_REGISTRY", reg)
        return reg
    return install


def _card(tmp_path):
    card = tmp_path / "card.md"
    card.write_text("# tiny\n\nHeld-out table: none (a test model).\n")
    return card


def test_a_shipped_model_is_listed_shown_and_used_by_name(trained, registry_with, tmp_path, data_dir, emgan):
    shipped = ModelFile("tiny.pt", _digest(trained / "tiny.pt"), path=trained / "tiny.pt")
    registry_with(Model("tiny-deblur", task="paired", summary="a test model", files=(shipped,),
                        card=_card(tmp_path), license="MIT", checkpoint="tiny.pt"))
    listing = emgan("models", check_rc=0).stdout
    assert "tiny-deblur" in listing and "task/paired, MIT, shipped: a test model" in listing
    assert emgan("models", "show", "tiny-deblur", check_rc=0).stdout.startswith("# tiny")
    assert emgan("models", "path", "tiny-deblur", check_rc=0).stdout.strip() == str(trained / "tiny.pt")
    src = data_dir / "emd2566_3J6B_chain9.mrc"
    emgan("infer", "tiny-deblur", src, "-o", tmp_path / "by-name.mrc", check_rc=0)
    emgan("infer", trained / "run", src, "-o", tmp_path / "by-run.mrc", check_rc=0)
    assert np.array_equal(read_map(tmp_path / "by-name.mrc").data, read_map(tmp_path / "by-run.mrc").data)
    proc = emgan("infer", "tiny-debulr", src, "-o", tmp_path / "typo.mrc")
    assert proc.returncode == 2 and "checkpoint not found" in proc.stderr
    proc = emgan("models", "show", "tiny-debulr")
    assert proc.returncode == 2 and "did you mean 'tiny-deblur'" in proc.stderr


def test_a_bundled_model_folder_is_one_record(trained, registry_with, tmp_path, emgan):
    """models/NAME/NAME.pt beside models/NAME/card.md: Model.bundled names file, card and checkpoint."""
    folder = tmp_path / "models" / "tiny-deblur"
    folder.mkdir(parents=True)
    (folder / "tiny-deblur.pt").write_bytes((trained / "tiny.pt").read_bytes())
    (folder / "card.md").write_text("# tiny-deblur\n")
    model = Model.bundled(folder, task="paired", summary="a test model",
                          sha256=_digest(trained / "tiny.pt"), size=(trained / "tiny.pt").stat().st_size)
    assert (model.name, model.checkpoint, model.license, Path(model.card)) == (
        "tiny-deblur", "tiny-deblur.pt", "MIT", folder / "card.md")
    registry_with(model)
    assert emgan("models", "path", "tiny-deblur", check_rc=0).stdout.strip() == str(folder / "tiny-deblur.pt")
    assert emgan("models", "show", "tiny-deblur", check_rc=0).stdout.startswith("# tiny-deblur")


def test_a_damaged_shipped_file_is_refused(trained, registry_with, tmp_path, emgan):
    copy = tmp_path / "tiny.pt"
    copy.write_bytes((trained / "tiny.pt").read_bytes()[:-10] + b"0123456789")
    registry_with(Model("tiny-deblur", task="paired", summary="x", card=_card(tmp_path), license="MIT",
                        files=(ModelFile("tiny.pt", _digest(trained / "tiny.pt"), path=copy),), checkpoint="tiny.pt"))
    proc = emgan("models", "path", "tiny-deblur")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert f"{copy}: SHA-256" in proc.stderr and "refused" in proc.stderr


def test_a_fetched_model_offline_from_a_given_path_and_cached(trained, registry_with, tmp_path, emgan):
    pinned = ModelFile("tiny.pt", _digest(trained / "tiny.pt"), url="http://127.0.0.1:9/models/tiny.pt")
    registry_with(Model("tiny-remote", task="paired", summary="x", card=_card(tmp_path), license="MIT",
                        files=(pinned,), checkpoint="tiny.pt"))
    # no network here: one line that says how to fetch it by hand
    proc = emgan("models", "fetch", "tiny-remote")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert "cannot download tiny.pt" in proc.stderr and "emgan models fetch tiny-remote --from FILE" in proc.stderr
    # a wrong file given by hand: refused, nothing cached
    wrong = tmp_path / "wrong.pt"
    wrong.write_bytes(b"PK\x03\x04 not the model")
    proc = emgan("models", "fetch", "tiny-remote", "--from", wrong)
    assert proc.returncode == 2 and "differs from model tiny-remote's" in proc.stderr
    cached = tmp_path / "cache" / "models" / "tiny-remote" / "tiny.pt"
    assert not cached.exists()
    # the right file: verified, copied into the cache, then used by name without --from
    proc = emgan("models", "fetch", "tiny-remote", "--from", trained / "tiny.pt", check_rc=0)
    assert "SHA-256 verified" in proc.stdout and cached.read_bytes() == (trained / "tiny.pt").read_bytes()
    assert emgan("models", "path", "tiny-remote", check_rc=0).stdout.strip() == str(cached)
    cached.write_bytes(b"tampered")  # a damaged cache entry is fetched again, not used
    proc = emgan("models", "path", "tiny-remote")
    assert proc.returncode == 2 and "cannot download" in proc.stderr


def test_a_model_published_in_another_format_is_converted_once(trained, registry_with, tmp_path, emgan,
                                                              monkeypatch):
    calls = []

    def convert(paths, output):
        calls.append(sorted(paths))
        output.write_bytes(paths["raw.bin"].read_bytes())

    import emgan_core.records as records

    monkeypatch.setattr(records, "_import", lambda path: convert if path == "fake.module:convert" else None)
    raw = tmp_path / "raw.bin"
    raw.write_bytes((trained / "tiny.pt").read_bytes())
    registry_with(Model("tiny-converted", task="paired", summary="x", card=_card(tmp_path), license="GPL-3.0-only",
                        files=(ModelFile("raw.bin", _digest(raw), url="http://127.0.0.1:9/raw.bin"),),
                        convert="fake.module:convert"))
    first = emgan("models", "fetch", "tiny-converted", "--from", raw, check_rc=0).stdout.strip().splitlines()[-1]
    again = emgan("models", "path", "tiny-converted", check_rc=0).stdout.strip()
    assert first == again and calls == [["raw.bin"]]


def test_model_records_are_checked():
    with pytest.raises(ValueError, match="exactly one of url"):
        ModelFile("x.pt", "0" * 64)
    with pytest.raises(ValueError, match="64 lower-case hex"):
        ModelFile("x.pt", "abc", path="x.pt")


def test_two_plugins_naming_one_model_break_only_the_second(registry_with, tmp_path):
    import emgan_core.registry as registry

    file = ModelFile("x.pt", "0" * 64, path=tmp_path / "x.pt")
    one = Model("twin", task="paired", summary="x", files=(file,), card=_card(tmp_path), license="MIT", checkpoint="x.pt")
    a = types.SimpleNamespace(emgan_models=hookimpl(lambda: [one]))
    b = types.SimpleNamespace(emgan_models=hookimpl(lambda: [one]))
    pm, origin = registry.plugin_manager([("alpha", a, "dist-a", "1"), ("beta", b, "dist-b", "1")])
    reg = registry.collect(pm, origin, pm.broken)
    assert reg.models["twin"][1] == "alpha" and "beta" in reg.broken
    assert "model 'twin' is already registered by plugin 'alpha'" in reg.broken["beta"][2]
    with pytest.raises(EmganError):
        from emgan_core.models import get_model

        get_model("nope", reg)
