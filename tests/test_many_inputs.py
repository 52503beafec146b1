"""Many inputs as Dask tasks: ``emgan infer CHECKPOINT INPUT... -o FOLDER`` and ``emgan bench --inputs``.

The shipped struc2mapgan-small model on short fragments of the bundled ubiquitin (1ubq), a few
residues each, so that an inference takes a fraction of a second. One local cluster of 2 workers
serves the whole module (through ``--scheduler``, the running-cluster path); the serial runs go
through ``--workers 1`` (in this process). No test asserts a time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import mrcfile
import numpy as np
import pytest

from emgan_core.errors import EmganError
from emgan_core.many import (
    LOCK,
    MANIFEST,
    STAGING,
    digest,
    expand_inputs,
    infer_many,
    output_name,
)

pytest.importorskip("distributed")

MODEL = "struc2mapgan-small"
OPTIONS = ("--resolution", "3.0", "--device", "cpu", "--threads", "1")  # one sum order wherever it runs


def _fragment(lines: list[str], first: int, path: Path, shift=(0.0, 0.0, 0.0)) -> Path:
    """Residues first..first+4 of a PDB file's ATOM lines, moved by ``shift`` Å."""
    out = []
    for line in lines:
        if line.startswith("ATOM") and first <= int(line[22:26]) <= first + 4:
            xyz = [float(line[30 + 8 * k:38 + 8 * k]) + shift[k] for k in range(3)]
            out.append(line[:30] + "".join(f"{v:8.3f}" for v in xyz) + line[54:])
    path.write_text("\n".join(out + ["END"]) + "\n")
    return path


@pytest.fixture(scope="module")
def fragments(tmp_path_factory, data_dir) -> list[Path]:
    folder = tmp_path_factory.mktemp("fragments")
    lines = (data_dir / "1ubq.pdb").read_text().splitlines()
    return [_fragment(lines, first, folder / f"ubq{first:02d}.pdb") for first in (1, 12, 23, 34)]


@pytest.fixture(scope="module")
def scheduler():
    """The address of one local Dask cluster of 2 worker processes for the module."""
    from emgan_core.parallel import dask_client

    with dask_client(workers=2) as client:
        yield client.scheduler.address


def _maps(folder: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(folder.glob("*.mrc")):
        with mrcfile.open(path) as m:
            out[path.name] = (m.data.copy(), m.voxel_size.copy(), tuple(m.header.origin.item()))
    return out


def _copy(files, folder: Path) -> Path:
    folder.mkdir()
    for f in files:
        shutil.copy(f, folder / f.name)
    return folder


def test_serial_and_two_workers_give_the_same_maps(emgan, fragments, scheduler, tmp_path):
    src = _copy(fragments, tmp_path / "in")
    serial = emgan("infer", MODEL, src, "-o", tmp_path / "serial", *OPTIONS, "--workers", "1", check_rc=0)
    assert "4 written, 0 up to date" in serial.stderr
    emgan("infer", MODEL, src, "-o", tmp_path / "dask", *OPTIONS, "--scheduler", scheduler, check_rc=0)
    one, two = _maps(tmp_path / "serial"), _maps(tmp_path / "dask")
    assert sorted(one) == [output_name(f) for f in fragments] == sorted(two)
    for name in one:
        assert np.array_equal(one[name][0], two[name][0]), name  # every voxel, bit for bit
        assert one[name][0].std() > 0
        assert np.array_equal(one[name][1], two[name][1]) and one[name][2] == two[name][2]
    keys = [{k: v["key"] for k, v in json.loads((tmp_path / d / MANIFEST).read_text())["outputs"].items()}
            for d in ("serial", "dask")]
    assert keys[0] == keys[1] and len(keys[0]) == 4
    assert not (tmp_path / "dask" / STAGING).exists()


def test_the_manifest_records_inputs_checkpoint_settings_and_outputs(fragments, tmp_path):
    from emgan_core.io.checkpoints import find_checkpoint
    from emgan_core.models import resolve_checkpoint

    report = infer_many(MODEL, fragments[:2], tmp_path / "out", resolution=3.0, device="cpu")
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["format"] == "emgan-infer/1" and report.manifest == tmp_path / "out" / MANIFEST
    entry = manifest["outputs"]["ubq01.mrc"]
    assert entry["inputs"] == [{"path": str(fragments[0].resolve()), "sha256": digest(fragments[0])}]
    assert entry["checkpoint"]["sha256"] == digest(find_checkpoint(resolve_checkpoint(MODEL)))
    assert entry["settings"]["options"] == {"resolution": 3.0} and entry["settings"]["seed"] == 0
    assert entry["files"] == {"ubq01.mrc": digest(tmp_path / "out" / "ubq01.mrc")}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [LOCK, MANIFEST, "ubq01.mrc", "ubq12.mrc"]


def test_a_rerun_skips_finished_inputs_and_redoes_a_changed_one(emgan, fragments, data_dir, tmp_path):
    src = _copy(fragments[:3], tmp_path / "in")
    out = tmp_path / "out"
    first = infer_many(MODEL, [src], out, resolution=3.0, device="cpu")
    assert len(first.written) == 3 and first.skipped == []
    before = {p.name: digest(p) for p in out.glob("*.mrc")}
    again = emgan("infer", MODEL, src, "-o", out, *OPTIONS, check_rc=0)
    assert "3 of 3 outputs up to date" in again.stderr and "0 written, 3 up to date" in again.stderr
    assert {p.name: digest(p) for p in out.glob("*.mrc")} == before  # not rewritten

    lines = (data_dir / "1ubq.pdb").read_text().splitlines()
    _fragment(lines, 12, src / "ubq12.pdb", shift=(4.0, 0.0, 0.0))  # the source changed
    changed = infer_many(MODEL, [src], out, resolution=3.0, device="cpu")
    assert [p.name for p in changed.written] == ["ubq12.mrc"]
    assert sorted(p.name for p in changed.skipped) == ["ubq01.mrc", "ubq23.mrc"]
    assert digest(out / "ubq12.mrc") != before["ubq12.mrc"]
    assert {n: digest(out / n) for n in ("ubq01.mrc", "ubq23.mrc")} == {n: before[n] for n in ("ubq01.mrc", "ubq23.mrc")}
    entry = json.loads((out / MANIFEST).read_text())["outputs"]["ubq12.mrc"]
    assert entry["inputs"][0]["sha256"] == digest(src / "ubq12.pdb")

    other = infer_many(MODEL, [src], out, resolution=3.5, device="cpu")  # other settings: all again
    assert len(other.written) == 3 and other.skipped == []


def test_files_no_entry_vouches_for_are_not_overwritten(emgan, fragments, tmp_path):
    out = tmp_path / "out"
    infer_many(MODEL, fragments[:2], out, resolution=3.0, device="cpu")
    (out / "ubq12.mrc").write_bytes(b"edited by hand")  # no longer the file the manifest recorded
    refused = emgan("infer", MODEL, *fragments[:2], "-o", out, *OPTIONS)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines()[-1].startswith(f"emgan: error: {out / 'ubq12.mrc'}: exists already")
    assert (out / "ubq12.mrc").read_bytes() == b"edited by hand"
    emgan("infer", MODEL, *fragments[:2], "-o", out, *OPTIONS, "--overwrite", check_rc=0)
    with mrcfile.open(out / "ubq12.mrc") as m:
        assert m.data.std() > 0


def test_an_interrupted_run_leaves_whole_outputs_and_resumes(monkeypatch, fragments, tmp_path):
    from emgan_core import many

    real, calls = many.infer_job, []

    def interrupted(job):
        calls.append(job["name"])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(many, "infer_job", interrupted)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        infer_many(MODEL, fragments, out, resolution=3.0, device="cpu")
    assert sorted(p.name for p in out.iterdir()) == [LOCK, MANIFEST, "ubq01.mrc", "ubq12.mrc"]  # no staging, no temporaries
    recorded = json.loads((out / MANIFEST).read_text())["outputs"]
    assert {n: e["files"][n] for n, e in recorded.items()} == {n: digest(out / n) for n in ("ubq01.mrc", "ubq12.mrc")}
    monkeypatch.setattr(many, "infer_job", real)
    resumed = infer_many(MODEL, fragments, out, resolution=3.0, device="cpu")
    assert [p.name for p in resumed.written] == ["ubq23.mrc", "ubq34.mrc"] and len(resumed.skipped) == 2


def test_a_bad_input_is_one_line_and_the_others_are_kept(emgan, fragments, scheduler, tmp_path):
    src = _copy(fragments[:3], tmp_path / "in")
    (src / "broken.pdb").write_text("not an atomic model\n")
    out = tmp_path / "out"
    run = emgan("infer", MODEL, src, "-o", out, *OPTIONS, "--scheduler", scheduler)
    assert run.returncode == 2
    errors = [line for line in run.stderr.splitlines() if line.startswith("emgan: error:")]
    assert len(errors) == 1 and str(src / "broken.pdb") in errors[0], run.stderr
    assert "3 written, 0 up to date, 1 of 4 failed" in run.stderr
    assert sorted(json.loads((out / MANIFEST).read_text())["outputs"]) == ["ubq01.mrc", "ubq12.mrc", "ubq23.mrc"]
    assert not (out / "broken.mrc").exists()
    shutil.copy(fragments[3], src / "broken.pdb")  # fixed: only it is done now
    fixed = emgan("infer", MODEL, src, "-o", out, *OPTIONS, check_rc=0)
    assert "1 written, 3 up to date" in fixed.stderr
    with mrcfile.open(out / "broken.mrc") as m:
        assert m.data.std() > 0


def test_an_error_every_input_meets_is_said_once(emgan, fragments, tmp_path):
    run = emgan("infer", MODEL, *fragments[:3], "-o", tmp_path / "out", "--device", "cpu")  # no --resolution
    errors = [line for line in run.stderr.splitlines() if line.startswith("emgan: error:")]
    assert run.returncode == 2 and len(errors) == 1 and "(3 inputs:" in errors[0] and "resolution" in errors[0]


def test_folder_glob_and_csv_name_the_same_inputs(emgan, fragments, tmp_path):
    folder = fragments[0].parent
    (tmp_path / "sub").mkdir()
    table = tmp_path / "sub" / "list.csv"
    shutil.copy(fragments[1], tmp_path / "sub" / fragments[1].name)
    table.write_text("label,model\na," + str(fragments[0]) + "\nb," + fragments[1].name + "\n")  # relative: the table's folder
    assert expand_inputs([folder]) == sorted(fragments)
    assert expand_inputs([str(folder / "ubq*.pdb")]) == sorted(fragments)
    assert expand_inputs([table], column="model") == [fragments[0], tmp_path / "sub" / fragments[1].name]
    assert expand_inputs([fragments[0], folder]) == sorted(fragments)  # each once
    with pytest.raises(EmganError, match="give --column"):
        expand_inputs([table])
    with pytest.raises(EmganError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.cif")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(EmganError, match="no inputs in this folder"):
        expand_inputs([tmp_path / "empty"])

    emgan("infer", MODEL, str(folder / "ubq0*.pdb"), table, "--column", "model", "-o", tmp_path / "out",
          *OPTIONS, check_rc=0)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.mrc")) == ["ubq01.mrc", "ubq12.mrc"]
    clash = emgan("infer", MODEL, fragments[1], tmp_path / "sub" / fragments[1].name, "-o", tmp_path / "o2", *OPTIONS)
    assert clash.returncode == 2 and "two inputs would write" in clash.stderr
    single = emgan("infer", MODEL, fragments[0], "-o", tmp_path / "one.mrc", *OPTIONS, check_rc=0)  # as before
    assert (tmp_path / "one.mrc").is_file() and "struc2mapgan inference" in single.stderr


BENCH = """name: fragments
inputs: []
methods:
  - {label: gan, checkpoint: struc2mapgan-small, options: {resolution: 3.0}}
  - {label: molmap-3A, simulator: {name: gaussian, params: {resolution: 3.0}}}
  - {label: control-noise, control: noise}
metrics: [pearson, ssim]
"""


def test_bench_inputs_from_a_glob_or_a_table_serial_and_on_workers(emgan, fragments, scheduler, tmp_path):
    refs = tmp_path / "refs"
    refs.mkdir()
    for f in fragments[:3]:
        emgan("simulate", "gaussian", f, "-o", refs / output_name(f), "resolution=4.0", check_rc=0)
    bench = tmp_path / "bench.yaml"
    bench.write_text(BENCH)
    pattern = str(fragments[0].parent / "ubq[012]*.pdb")
    emgan("bench", bench, "--inputs", pattern, f"reference={refs}/{{stem}}.mrc", "-o", tmp_path / "b1",
          "--device", "cpu", "--threads", "1", check_rc=0)
    table = tmp_path / "pairs.csv"
    table.write_text("label,model,map\n" + "".join(f"{f.stem},{f},{refs / output_name(f)}\n" for f in fragments[:3]))
    emgan("bench", bench, "--inputs", table, "input={model}", "reference={map}", "-o", tmp_path / "b2",
          "--device", "cpu", "--scheduler", scheduler, "--threads", "1", check_rc=0)
    one, two = (json.loads((tmp_path / d / "results.json").read_text())["results"] for d in ("b1", "b2"))
    assert [(r["method"], r["input"]) for r in one] == [(m, f.stem) for f in fragments[:3]
                                                        for m in ("gan", "molmap-3A", "control-noise")]
    assert [(r["method"], r["input"], r["values"], r["curves"]) for r in one] == \
        [(r["method"], r["input"], r["values"], r["curves"]) for r in two]  # the same numbers, to the last bit
    assert all(r["values"]["pearson"] > 0.8 for r in one if r["method"] != "control-noise")


def test_bench_input_sources_fail_in_one_line(emgan, fragments, tmp_path):
    bench = tmp_path / "bench.yaml"
    bench.write_text(BENCH)
    missing = emgan("bench", bench, "--inputs", str(fragments[0].parent / "*.pdb"), "reference=refs/{stem}.mrc",
                    "-o", tmp_path / "b", "--device", "cpu")
    assert missing.returncode == 2 and "file not found: refs/ubq01.mrc" in missing.stderr
    unknown = emgan("bench", bench, "--inputs", str(fragments[0]), "reference={nope}.mrc", "-o", tmp_path / "b")
    assert unknown.returncode == 2 and "'{nope}' names no field" in unknown.stderr


def test_usage_errors_are_one_line(emgan, fragments, tmp_path):
    cases = [
        (("--workers", "0"), "workers: workers must be an integer >= 1, got 0"),
        (("--star", fragments[0]), "--star: --star goes with one input and one output file"),
    ]
    for extra, message in cases:
        run = emgan("infer", MODEL, *fragments[:2], "-o", tmp_path / "out", *OPTIONS, *extra)
        lines = run.stderr.strip().splitlines()
        assert run.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"emgan: error: {message}"), run.stderr
    nowhere = emgan("infer", MODEL, *fragments[:2], "-o", tmp_path / "no" / "out", *OPTIONS)
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr and not (tmp_path / "no").exists()
    column = emgan("infer", MODEL, fragments[0], "--column", "x", "-o", tmp_path / "one.mrc", *OPTIONS)
    assert column.returncode == 2 and "--column goes with a CSV table" in column.stderr


def test_a_refused_run_leaves_the_folder_locked(tmp_path):
    """A second run into a folder in use is refused, and refusing it does not unlock the folder for a third."""
    from emgan_core.many import _folder_lock

    with _folder_lock(tmp_path):
        for _ in range(2):
            with pytest.raises(EmganError, match="another emgan infer is writing into this folder"):
                with _folder_lock(tmp_path):
                    pass
    with _folder_lock(tmp_path):  # free again once the first run ends
        pass
