"""The emgan cache: data built once on first use, keyed by what they are built from, whole or absent."""

from __future__ import annotations

import json
import threading

import pytest

from emgan_core.api import EmganError, build_cached
from emgan_core.cache import ENTRY_FILE, cache_root
from emgan_core.models import cache_root as models_root


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMGAN_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _writer(calls: list, text: str = "built"):
    def build(tmp):
        calls.append(tmp)
        assert tmp.is_dir() and not any(tmp.iterdir())
        (tmp / "out.txt").write_text(text)
    return build


def test_one_root_for_models_and_data(cache):
    assert cache_root() == cache and models_root() == cache / "models"


def test_built_once_then_found_and_rebuilt_when_an_input_changes(cache, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("a")
    calls = []
    entry = build_cached("kind", {"n": 1}, _writer(calls), files=[source], name="in", what="the thing")
    assert entry.parent == cache / "data" / "kind" and entry.name.startswith("in-") and len(calls) == 1
    assert (entry / "out.txt").read_text() == "built"
    record = json.loads((entry / ENTRY_FILE).read_text())
    assert record["kind"] == "kind" and record["settings"] == {"n": 1}
    assert [f["path"] for f in record["files"]] == [str(source.resolve())]
    assert f"emgan: the thing: built in 0 s into the cache, {entry}" in capsys.readouterr().err
    # found again: not built again
    assert build_cached("kind", {"n": 1}, _writer(calls), files=[source], name="in", what="the thing") == entry
    assert len(calls) == 1 and f"emgan: the thing: from the cache, {entry}" in capsys.readouterr().err
    # other bytes in the same file, or other settings: a new entry; the old one stays
    source.write_text("b")
    changed = build_cached("kind", {"n": 1}, _writer(calls), files=[source], name="in")
    other = build_cached("kind", {"n": 2}, _writer(calls), files=[source], name="in")
    assert len({entry, changed, other}) == 3 and len(calls) == 3 and entry.is_dir()
    # nothing but the entries and no lock or temporary folder is left beside them
    assert sorted(p.name for p in (cache / "data" / "kind").iterdir()) == sorted(
        p.name for p in (entry, changed, other))
    with pytest.raises(EmganError, match="file not found"):
        build_cached("kind", {}, _writer(calls), files=[tmp_path / "gone.txt"])


def test_a_failed_build_leaves_no_entry_unless_it_resumes(cache, tmp_path):
    folder = tmp_path / "mine"

    def fail(tmp):
        (tmp / "half.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        build_cached("kind", {}, fail, folder=folder)
    # given a folder, entries go there, not into the cache; nothing is left but the (empty) lock file
    assert [p.suffix for p in folder.iterdir()] == [".lock"]
    # resumable: the next build gets what the failed one left
    with pytest.raises(RuntimeError):
        build_cached("kind", {}, fail, folder=folder, resumable=True)
    seen = []

    def resume(tmp):
        seen.append((tmp / "half.txt").read_text())
        (tmp / "rest.txt").write_text("rest")

    entry = build_cached("kind", {}, resume, folder=folder, resumable=True)
    assert seen == ["half"] and sorted(p.name for p in entry.iterdir()) == [ENTRY_FILE, "half.txt", "rest.txt"]
    assert [p.name for p in folder.iterdir()] == [entry.name]  # the lock goes once the entry is there
    assert not (cache / "data").exists()


def test_a_second_caller_waits_for_the_first_and_uses_its_entry(cache, capsys):
    started, release, calls, found = threading.Event(), threading.Event(), [], []

    def slow(tmp):
        calls.append("first")
        started.set()
        assert release.wait(10)
        (tmp / "out.txt").write_text("first")

    first = threading.Thread(target=lambda: found.append(build_cached("kind", {}, slow)))
    first.start()
    assert started.wait(10)
    second = threading.Thread(target=lambda: found.append(build_cached("kind", {}, _writer(calls, "second"))))
    second.start()
    err = ""
    for _ in range(400):  # until the second caller says it waits: it is then on the lock, not building
        err += capsys.readouterr().err
        if "waiting for another process to finish" in err:
            break
        second.join(0.05)
    assert "waiting for another process to finish" in err and second.is_alive()
    release.set()
    first.join(10), second.join(10)
    assert calls == ["first"] and len(set(found)) == 1 and (found[0] / "out.txt").read_text() == "first"


def test_an_unwritable_cache_is_one_line(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("EMGAN_CACHE", str(tmp_path / "file"))
    with pytest.raises(EmganError, match="set EMGAN_CACHE to a writable folder"):
        build_cached("kind", {}, _writer([]))
