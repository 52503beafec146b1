"""Property-based fuzzing of the command line's promise on bad input.

For any input file or recipe override, a command ends with exit status 0, or with exit status 2 and
one line per problem on stderr, each starting ``emgan: error:``: never a traceback nor another status,
and never a partial output (no output file after a failure, no ``.NAME.XXXXXXXX*`` temporary file in
the output folder either way). Inputs:

* MRC maps: a real map's header and data block corrupted (sizes, mode, axis order, sampling, cell,
  origin, extended header size, map ID, machine stamp, truncation, extension, NaN/inf values),
  through ``emgan eval`` and ``emgan simulate gaussian --on-grid``;
* RELION 3.1 particle STAR files pointing at a real 5-image stack (rows, image names, numbers, optics,
  duplicate columns, empty loops), through ``emgan infer`` with a tiny denoising model trained once
  (skipped without the optional data of ``../shared/data``);
* PDB and mmCIF text (coordinates, elements, occupancies, B-factors, broken columns, garbage) with
  random resolutions, through ``emgan simulate gaussian``;
* dotted overrides of the shipped recipes (known and unknown keys, values of every type), through
  ``emgan validate --no-files``.

The default profile is derandomised (the same examples on every run) and takes about 45 s on two cores.
A long random search, a few thousand examples per test::

    EMGAN_FUZZ_PROFILE=fuzz-long .venv/bin/python -m pytest tests/test_fuzz.py

A failure prints the smallest input found; keep it as an ``@example`` of its test once fixed.
"""

from __future__ import annotations

import dataclasses
import inspect
import itertools
import json
import math
import os
import re
import shutil
import struct
import traceback
import warnings
from functools import lru_cache
from pathlib import Path

import mrcfile
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from emgan_core.errors import EmganError
from emgan_core.testing import run_emgan

settings.register_profile("fuzz", derandomize=True, database=None, print_blob=True)
settings.register_profile("fuzz-long", derandomize=False, print_blob=True)
PROFILE = os.environ.get("EMGAN_FUZZ_PROFILE", "fuzz")
LONG = PROFILE == "fuzz-long"
BASE = settings.get_profile(PROFILE)


def budget(n: int) -> int:
    """Examples of a test: ``n`` by default, 40 × ``n`` in the long profile."""
    return 40 * n if LONG else n


def fuzz_settings(n: int) -> settings:
    return settings(BASE, max_examples=budget(n), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "data"
_COUNTER = itertools.count()
#: a temporary file of an atomic write: ``.NAME.`` + mkstemp's eight characters (+ suffixes)
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]{8}(\.[^.]+)*$")
#: warning categories Python does not print by default
_SILENT = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def fresh_folder(tmp_path: Path) -> Path:
    """A new folder per example (examples of one test share ``tmp_path``)."""
    folder = tmp_path / f"example-{next(_COUNTER):05d}"
    folder.mkdir()
    return folder


def mostly(usual, rare, one_in: int = 10):
    """``usual``, and now and then ``rare`` (less often for a larger ``one_in``)."""
    return st.one_of(*[usual.map(lambda v: v) for _ in range(one_in - 1)], rare)


def rarely(draw, one_in: int) -> bool:
    """True now and then (less often for a larger ``one_in``)."""
    return draw(mostly(st.just(False), st.just(True), one_in))


def check_promise(*args, outputs=(), folders=()):
    """Run ``emgan ARGS`` in this process and check the promise; returns the CompletedProcess.

    Any exception other than the CLI's own handling is a traceback for a user. Warnings that Python
    would print are counted as stderr lines."""
    argv = [str(a) for a in args]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            proc = run_emgan(*argv)
        except Exception as err:  # noqa: BLE001 - what the user would see as a traceback
            raise AssertionError(f"emgan {' '.join(argv)}: traceback\n"
                                 + "".join(traceback.format_exception(err))) from None
    shown = [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, _SILENT)]
    text = proc.stdout + proc.stderr
    assert "Traceback" not in text, f"emgan {' '.join(argv)}:\n{text}"
    assert proc.returncode in (0, 2), f"emgan {' '.join(argv)}: exit status {proc.returncode}\n{text}"
    if proc.returncode == 2:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()] + shown
        assert lines, f"emgan {' '.join(argv)}: exit status 2 without a message"
        stray = [ln for ln in lines if not ln.startswith("emgan: error: ")]
        assert not stray, f"emgan {' '.join(argv)}: stderr lines that are not errors: {stray}\n{proc.stderr}"
        left = [str(p) for p in outputs if os.path.lexists(p)]
        assert not left, f"emgan {' '.join(argv)} failed but left {left}\n{proc.stderr}"
    for folder in folders:
        temporary = [p.name for p in Path(folder).iterdir() if _TEMPORARY.match(p.name)]
        assert not temporary, f"emgan {' '.join(argv)}: temporary files left: {temporary}"
    return proc


# -- MRC maps --------------------------------------------------------------------------------------

HEADER = np.dtype(mrcfile.dtypes.HEADER_DTYPE).newbyteorder("<")
assert HEADER.itemsize == 1024
INT_FIELDS = ("nx", "ny", "nz", "mode", "nxstart", "nystart", "nzstart", "mx", "my", "mz",
              "mapc", "mapr", "maps", "ispg", "nsymbt", "nversion", "nlabl")
FLOAT_FIELDS = ("cella.x", "cella.y", "cella.z", "cellb.alpha", "cellb.beta", "cellb.gamma",
                "dmin", "dmax", "dmean", "origin.x", "origin.y", "origin.z", "rms")
MAPS = {"emringer": ("emringerweb_test_map.ccp4", "emringerweb_test_model.pdb"),
        "emd2566": ("emd2566_3J6B_chain9.mrc", "3J6B_chain9.pdb")}

special_ints = st.sampled_from([0, 1, -1, 2, 3, 4, 5, 6, 7, 12, 16, 101, 401, 1024, 20, 27, 34, 65536,
                                2**31 - 1, -(2**31)])
int_values = st.one_of(special_ints, st.integers(-3, 300), st.integers(-(2**31), 2**31 - 1))
float_values = st.one_of(
    st.sampled_from([0.0, -0.0, -1.0, math.nan, math.inf, -math.inf, 1e30, -1e30, 3.4e38, 1e-30,
                     1e-45, 1.0, 40.0, 1e4]),
    st.floats(width=32),
)
axis_orders = st.one_of(st.permutations([1, 2, 3]).map(tuple),
                        st.tuples(st.integers(-1, 4), st.integers(-1, 4), st.integers(-1, 4)))
header_mutations = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(INT_FIELDS), int_values),
    st.tuples(st.just("set"), st.sampled_from(FLOAT_FIELDS), float_values),
    st.tuples(st.just("axes"), axis_orders),
    st.tuples(st.just("map"), st.one_of(st.sampled_from([b"MAP ", b"MAP\0", b"\0\0\0\0", b"PAM "]),
                                        st.binary(min_size=4, max_size=4))),
    st.tuples(st.just("machst"), st.one_of(st.sampled_from([b"\x44\x44\0\0", b"\x11\x11\0\0", b"\x44\x41\0\0",
                                                            b"\0\0\0\0"]), st.binary(min_size=4, max_size=4))),
    st.tuples(st.just("bytes"), st.integers(0, 1023), st.binary(min_size=1, max_size=16)),
)
#: MRC modes and their bytes per voxel (101: 4-bit)
MODE_BYTES = {0: 1, 1: 2, 2: 4, 3: 4, 4: 8, 6: 2, 12: 2, 101: 0.5}
data_mutations = st.one_of(
    st.tuples(st.just("retype"), st.sampled_from(sorted(MODE_BYTES))),
    st.tuples(st.just("truncate"), st.integers(0, 400_000)),
    st.tuples(st.just("extend"), st.one_of(st.binary(min_size=1, max_size=64),
                                           st.integers(1, 9000).map(lambda n: b"\0" * n))),
    st.tuples(st.just("poke"), st.integers(0, 100_000),
              st.sampled_from([math.nan, math.inf, -math.inf, 3.4e38, -3.4e38])),
)
mrc_mutations = st.lists(st.one_of(header_mutations, data_mutations), min_size=1, max_size=4)


def corrupt_mrc(raw: bytes, mutations) -> bytes:
    """``raw`` (a little-endian MRC2014 file) with ``mutations`` applied in order."""
    buf = bytearray(raw)
    voxels = (len(raw) - 1024) // 4
    for mutation in mutations:
        kind = mutation[0]
        if kind in ("set", "axes", "map", "machst"):
            if len(buf) < 1024:
                continue
            header = np.frombuffer(bytes(buf[:1024]), dtype=HEADER, count=1).copy()
            if kind == "set":
                *parents, last = mutation[1].split(".")
                target = header
                for part in parents:
                    target = target[part]
                with np.errstate(over="ignore"):
                    target[last] = mutation[2]
            elif kind == "axes":
                header["mapc"], header["mapr"], header["maps"] = mutation[1]
            elif kind == "map":
                header["map"] = mutation[1]
            else:
                header["machst"][0] = list(mutation[1])
            buf[:1024] = header.tobytes()
        elif kind == "retype":  # another mode, NZ (and the data block) fitted to the bytes there are
            if len(buf) < 1024:
                continue
            header = np.frombuffer(bytes(buf[:1024]), dtype=HEADER, count=1).copy()
            row = int(header["nx"][0]) * int(header["ny"][0]) * MODE_BYTES[mutation[1]]
            if row <= 0 or header["nsymbt"][0] < 0:
                continue
            nz = max(1, int((len(buf) - 1024 - int(header["nsymbt"][0])) // row))
            header["mode"], header["nz"] = mutation[1], nz
            buf[:1024] = header.tobytes()
            del buf[1024 + int(header["nsymbt"][0]) + int(nz * row):]
        elif kind == "bytes":
            offset, chunk = mutation[1], mutation[2]
            buf[offset:offset + len(chunk)] = chunk
        elif kind == "truncate":
            del buf[min(mutation[1], len(buf)):]
        elif kind == "extend":
            buf += mutation[1]
        elif kind == "poke":
            offset = 1024 + 4 * (mutation[1] % max(voxels, 1))
            if offset + 4 <= len(buf):
                buf[offset:offset + 4] = struct.pack("<f", mutation[2])
    return bytes(buf)


@fuzz_settings(150)
@given(base=st.sampled_from(sorted(MAPS)), mutations=mrc_mutations,
       as_stack=st.sampled_from([False, False, True]))
@example(base="emringer", mutations=[("set", "cella.x", math.nan)], as_stack=False)
@example(base="emringer", mutations=[("set", "cella.y", math.inf)], as_stack=False)
@example(base="emringer", mutations=[("set", "origin.z", math.nan)], as_stack=False)
@example(base="emd2566", mutations=[("set", "origin.x", -math.inf)], as_stack=False)
@example(base="emringer", mutations=[("set", "cella.z", 3.4e38)], as_stack=False)
@example(base="emringer", mutations=[("set", "cella.x", 1e-30)], as_stack=False)
@example(base="emringer", mutations=[("set", "mode", 4)], as_stack=False)
@example(base="emringer", mutations=[("set", "mode", 101)], as_stack=False)
@example(base="emringer", mutations=[("set", "nsymbt", -1)], as_stack=False)
@example(base="emringer", mutations=[("set", "nsymbt", 2**31 - 1)], as_stack=True)
@example(base="emringer", mutations=[("machst", b"\x11\x11\0\0"), ("bytes", 92, b"\x7f\xff\xff\xff")],
         as_stack=False)
@example(base="emringer", mutations=[("set", "nx", -27)], as_stack=False)
@example(base="emringer", mutations=[("set", "ispg", 401)], as_stack=False)
@example(base="emringer", mutations=[("axes", (1, 1, 3))], as_stack=False)
@example(base="emringer", mutations=[("machst", b"\x11\x11\0\0")], as_stack=False)
@example(base="emringer", mutations=[("truncate", 1000)], as_stack=False)
@example(base="emringer", mutations=[("poke", 5, math.inf)], as_stack=False)
@example(base="emd2566", mutations=[("bytes", 0, b"\x00\x00\x00\x02\x00\x00\x00\x80")], as_stack=False)
@example(base="emringer", mutations=[("set", "cella.x", math.inf)], as_stack=True)
@example(base="emringer", mutations=[("set", "mx", 0)], as_stack=True)
@example(base="emringer", mutations=[("retype", 12)], as_stack=True)
@example(base="emd2566", mutations=[("retype", 4)], as_stack=True)
@example(base="emd2566", mutations=[("set", "ispg", 401)], as_stack=True)
@example(base="emringer", mutations=[("retype", 4)], as_stack=False)
def test_corrupt_mrc(tmp_path, base, mutations, as_stack):
    """A corrupted map (or, named .mrcs, the same bytes read as an image stack) compared with the
    original by ``emgan eval``, and used as the grid of ``emgan simulate``."""
    map_name, model_name = MAPS[base]
    good = EXAMPLES / map_name
    if not good.is_file():
        pytest.skip("bundled example data not found")
    folder = fresh_folder(tmp_path)
    if as_stack:
        bad, reference = folder / "bad.mrcs", folder / "good.mrcs"
        shutil.copyfile(good, reference)
    else:
        bad, reference = folder / f"bad-{map_name}", good
    bad.write_bytes(corrupt_mrc(good.read_bytes(), mutations))
    check_promise("eval", bad, reference, folders=[folder])
    out = folder / "sim.mrc"
    check_promise("simulate", "gaussian", EXAMPLES / model_name, "-o", out, "--on-grid", bad,
                  outputs=[out], folders=[folder])
    shutil.rmtree(folder, ignore_errors=True)


# -- RELION STAR files --------------------------------------------------------------------------------

PIXEL = 2.806  # the stack's pixel size (its STAR file's rlnImagePixelSize)
STACK = "relion31.mrcs"
OPTICS_COLUMNS = {"rlnOpticsGroup": "1", "rlnOpticsGroupName": "opticsGroup1", "rlnAmplitudeContrast": "0.1",
                  "rlnSphericalAberration": "0.01", "rlnVoltage": "300.0", "rlnImagePixelSize": str(PIXEL),
                  "rlnImageSize": "256", "rlnImageDimensionality": "2"}
_token_chars = st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\x85")
#: tokens that are not numbers, or that break the STAR syntax (comments, quotes, keywords)
garbage_tokens = st.one_of(
    st.text(_token_chars, min_size=1, max_size=10),
    st.sampled_from(["abc", "#", "#1", "_rlnImageName", "loop_", "data_", "data_particles", "''", '"', "'a b'",
                     "stop_", "global_", "@", "@@", "1@", "1@1@relion31.mrcs", "nan@relion31.mrcs"]),
)
#: tokens that read as numbers, or almost
odd_numbers = st.one_of(
    st.sampled_from(["0", "-0", "1", "-1", "0.5", "nan", "NaN", "inf", "-inf", "Infinity", "1e400", "-1e400",
                     "1e308", "-1e308", "1e-320", "12000", "300", "2.806", "0x10", "1_000", "1,5", "+3", ".", "-",
                     "e5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
)
number_tokens = st.one_of(odd_numbers, garbage_tokens)
image_numbers = st.one_of(st.integers(1, 5), st.integers(-3, 8), st.integers(6, 10**25))
image_names = st.one_of(
    image_numbers.map(lambda k: f"{k}@{STACK}"),
    image_numbers.map(lambda k: f"{k:06d}@{STACK}" if k >= 0 else f"{k}@{STACK}"),
    st.integers(1, 5).map(lambda k: f"{k}@./{STACK}"),
    st.sampled_from([STACK, f"@{STACK}", f"0@{STACK}", f"-1@{STACK}", f"1@{STACK.upper()}",
                     "1@missing.mrcs", "1@BAD.star", "1@.", "1@/", "1@" + "x" * 300 + ".mrcs",
                     "1@" + "x/" * 2100 + ".mrcs", f"\u00b2@{STACK}", f"\u0661@{STACK}", f"\u2460@{STACK}",
                     f"1.0@{STACK}", f"1e0@{STACK}", f"1@{STACK}@{STACK}", f"+1@{STACK}", "nan", "NaN", "1", "1.5",
                     "inf", "-"]),
    garbage_tokens,
)
group_tokens = st.one_of(st.sampled_from(["1", "2", "0", "-1", "1.0", "01", "nan", "opticsGroup1"]), garbage_tokens)
VALID_PARTICLE = {"rlnAngleRot": "-102.30296", "rlnAngleTilt": "82.318041", "rlnAnglePsi": "124.706463",
                  "rlnOriginXAngst": "0.019324", "rlnOriginYAngst": "-0.64686", "rlnOriginX": "0.5",
                  "rlnOriginY": "-1.0", "rlnDefocusU": "13108.082418", "rlnDefocusV": "12845.582418",
                  "rlnDefocusAngle": "-160.39", "rlnPhaseShift": "0.0", "rlnCtfBfactor": "0.0",
                  "rlnImagePixelSize": str(PIXEL), "rlnDetectorPixelSize": "2.806", "rlnMagnification": "10000",
                  "rlnClassNumber": "1", "rlnNotAColumn": "x", "rlnOpticsGroup": "1"}


def _fuzzed_token(draw, column: str) -> str:
    if column == "rlnImageName":
        return draw(image_names)
    if column == "rlnOpticsGroup":
        return draw(group_tokens)
    return draw(number_tokens)


@st.composite
def star_files(draw) -> str:
    """The text of a RELION 3.1 (or 3.0-style) particle STAR file pointing into ``relion31.mrcs``: a
    valid file, then a few columns dropped or repeated, rows added or removed, cells replaced."""
    style = draw(st.sampled_from(["3.1", "3.1", "3.1", "3.0", "particles only"]))
    blocks = []  # [header, column names, rows]
    if style == "3.1":
        names = [c for c in OPTICS_COLUMNS if draw(st.integers(0, 19)) > 0]
        groups = draw(mostly(st.just(["1"]), st.lists(st.sampled_from(["1", "2"]), max_size=3), one_in=3))
        rows = [[g if c == "rlnOpticsGroup" else OPTICS_COLUMNS[c] for c in names] for g in groups]
        blocks.append(["data_optics", names, rows])
    wanted = ["rlnImageName", "rlnAngleRot", "rlnAngleTilt", "rlnAnglePsi", "rlnDefocusU"]
    if style == "3.1":
        wanted += ["rlnOpticsGroup", "rlnOriginXAngst", "rlnOriginYAngst"]
    else:
        wanted += draw(st.sampled_from([["rlnImagePixelSize"], ["rlnImagePixelSize", "rlnOriginX"],
                                        ["rlnDetectorPixelSize", "rlnMagnification"], []]))
    names = [c for c in wanted if c == "rlnImageName" or draw(st.integers(0, 19)) > 0]
    names += [c for c in draw(st.lists(st.sampled_from(sorted(VALID_PARTICLE)), max_size=2)) if c not in names]
    count = draw(st.one_of(st.integers(1, 5), st.integers(0, 8)))
    rows = [[f"{draw(st.integers(1, 5)):06d}@{STACK}" if c == "rlnImageName" else VALID_PARTICLE[c] for c in names]
            for _ in range(count)]
    blocks.append(["data_particles" if style == "3.1" else "data_", names, rows])
    for _ in range(draw(st.integers(0, 3))):
        header, names, rows = blocks[draw(st.integers(0, len(blocks) - 1))]
        kind = draw(st.sampled_from(["cell"] * 8 + ["drop column", "repeat column", "ragged row", "no rows"]))
        if kind == "cell" and names and rows:
            i, j = draw(st.integers(0, len(rows) - 1)), draw(st.integers(0, len(names) - 1))
            if j < len(rows[i]):
                rows[i][j] = _fuzzed_token(draw, names[j])
        elif kind == "drop column" and names:
            j = draw(st.integers(0, len(names) - 1))
            del names[j]
            for row in rows:
                del row[j:j + 1]
        elif kind == "repeat column" and names:
            j = draw(st.integers(0, len(names) - 1))
            names.append(names[j])
            for row in rows:
                row.append(row[j] if j < len(row) else "7")
        elif kind == "ragged row" and rows:
            row = rows[draw(st.integers(0, len(rows) - 1))]
            if row and draw(st.booleans()):
                row.pop()
            else:
                row.append("7")
        elif kind == "no rows":
            rows.clear()
    text = ["# " + "-" * 78] * 14 if rarely(draw, 8) else []  # over 1024 bytes: as long as an MRC header
    for header, names, rows in blocks:
        text += ["", "# version 30001", "", header, "", "loop_"]
        text += [f"_{name} #{i + 1}" for i, name in enumerate(names)]
        text += [" ".join(row) for row in rows]
        text.append("")
    return "\n".join(text) + "\n"


@pytest.fixture(scope="module")
def particle_set(shared_dir, tmp_path_factory):
    """The real 5-image stack (copied), and a tiny denoising model trained for one step at its pixel size."""
    source = shared_dir / "particles" / "relion31"
    if not (source / STACK).is_file():
        pytest.skip("the RELION 3.1 particle set is not in the larger example data")
    folder = tmp_path_factory.mktemp("particles")
    shutil.copyfile(source / STACK, folder / STACK)
    shutil.copyfile(source / "relion31.star", folder / "relion31.star")
    structure = EXAMPLES / "1ubq.pdb"
    if not structure.is_file():
        pytest.skip("bundled example data not found")
    from emgan_core.recipes import shipped_recipes

    if "denoise-quickstart" not in shipped_recipes():
        pytest.skip("the denoising plugin (its denoise-quickstart recipe) is not installed")
    run = folder / "tiny-denoiser"
    proc = run_emgan("run", "denoise-quickstart", "-o", run, "task.params.scale=1.0", "train.steps=1",
                     "train.batch_size=2", "train.val_every=1", "train.val_batches=1", "train.log_every=1",
                     "train.checkpoint_every=1", "generator.params.channels=4", "critic.params.channels=4",
                     "simulator.params.image_size=64", f"simulator.params.pixel_size={PIXEL}",
                     f"data.train=[{{structure: {structure}, count: 2}}]", "data.val=null", "train.device=cpu")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return folder, run


def _link(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def test_real_star_file_is_denoised(particle_set, tmp_path):
    """The fuzzed STAR files start from this: the real file through the same command succeeds."""
    folder, run = particle_set
    work = fresh_folder(tmp_path)
    _link(folder / STACK, work / STACK)
    shutil.copyfile(folder / "relion31.star", work / "in.star")
    out = work / "out.mrcs"
    proc = check_promise("infer", run, work / STACK, "--star", work / "in.star", "-o", out, "--device", "cpu",
                         outputs=[out], folders=[work])
    assert proc.returncode == 0 and out.is_file() and out.with_suffix(".star").is_file(), proc.stderr


@fuzz_settings(100)
@given(star=star_files(), star_as_source=st.booleans())
@example(star="data_\nloop_\n_rlnImageName #1\n_rlnImagePixelSize #2\n" + "\n", star_as_source=True)
@example(star="data_\nloop_\n_rlnImageName #1\n_rlnImagePixelSize #2\n1@BAD.star 2.806\n", star_as_source=True)
@example(star="data_\nloop_\n_rlnImageName #1\n_rlnImagePixelSize #2\n1@BAD.star 2.806\n"
              + "2@relion31.mrcs 2.806\n" * 60, star_as_source=True)
@example(star="data_\nloop_\n_rlnImageName #1\n_rlnImagePixelSize #2\nnan 2.806\n", star_as_source=True)
@example(star="data_\nloop_\n_rlnImageName #1\n_rlnImagePixelSize #2\n\u00b2@relion31.mrcs 2.806\n",
         star_as_source=False)
@example(star="data_\nloop_\n_rlnImageName #1\n_rlnImagePixelSize #2\n1@" + "x" * 300 + ".mrcs 2.806\n",
         star_as_source=False)
@example(star="data_\nloop_\n_rlnImageName #1\n_rlnImagePixelSize #2\n1@relion31.mrcs inf\n",
         star_as_source=True)
@example(star="data_optics\nloop_\n_rlnVoltage #1\n300\n\ndata_particles\nloop_\n_rlnImageName #1\n"
              "_rlnOpticsGroup #2\n_rlnImagePixelSize #3\n1@relion31.mrcs 1 2.806\n", star_as_source=False)
@example(star="data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 2.806\n1 2.806\n\n"
              "data_particles\nloop_\n_rlnImageName #1\n_rlnOpticsGroup #2\n1@relion31.mrcs 1\n",
         star_as_source=False)
@example(star="data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 2.806\n\n"
              "data_particles\nloop_\n_rlnImageName #1\n_rlnOpticsGroup #2\n1@relion31.mrcs opticsGroup1\n",
         star_as_source=False)
def test_fuzzed_star_file(particle_set, tmp_path, star, star_as_source):
    folder, run = particle_set
    work = fresh_folder(tmp_path)
    _link(folder / STACK, work / STACK)
    path = work / "BAD.star"
    path.write_text(star)
    out = work / "OUT.mrcs"
    source = [path] if star_as_source else [work / STACK, "--star", path]
    check_promise("infer", run, *source, "-o", out, "--device", "cpu",
                  outputs=[out, out.with_suffix(".star")], folders=[work])
    shutil.rmtree(work, ignore_errors=True)


@fuzz_settings(200)
@given(star=star_files())
@example(star="data_optics\nloop_\n_rlnOpticsGroup #1\n1\n\ndata_particles\nloop_\n_rlnImageName #1\n"
              "_rlnOpticsGroup #2\n\n")
@example(star="data_optics\nloop_\n_rlnOpticsGroup #1\n_rlnImagePixelSize #2\n1 2.806\n\ndata_particles\nloop_\n"
              "_rlnImageName #1\n_rlnOpticsGroup #2\n1@relion31.mrcs 1.0\n2@relion31.mrcs 01\n")
def test_fuzzed_star_reader(particle_set, tmp_path, star):
    """The reader alone (more examples than the command affords): EmganError with one line, or a table
    whose images can be read."""
    from emgan_core.io import read_particle_images, read_particle_star

    folder, _ = particle_set
    work = fresh_folder(tmp_path)
    _link(folder / STACK, work / STACK)
    path = work / "BAD.star"
    path.write_text(star)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            table = read_particle_star(path)
            images = read_particle_images(table)
        except EmganError as err:
            assert err.line() and "\n" not in err.line(), repr(err.line())
        else:
            assert images.shape == (len(table), 256, 256) and len(table) > 0
    shown = [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, _SILENT)]
    assert not shown, shown
    shutil.rmtree(work, ignore_errors=True)


# -- atomic models ----------------------------------------------------------------------------------------

def _column(value: float, width: int, decimals: int) -> str:
    if math.isnan(value):
        return "nan".rjust(width)
    if math.isinf(value):
        return ("inf" if value > 0 else "-inf").rjust(width)
    return f"{value:{width}.{decimals}f}"




coordinates = mostly(st.floats(-40, 40),
                     st.one_of(st.floats(-1e4, 1e4),
                               st.sampled_from([math.nan, math.inf, -math.inf, 1e6, -1e6, 1e9, 0.0, 99999.999])),
                     one_in=12)
elements = mostly(st.sampled_from(["C", "N", "O", "S"]),
                  st.sampled_from(["P", "H", "D", "FE", "ZN", "MG", "CA", "SE", "U", "XX", "Q", "", "X1", "c", "1"]),
                  one_in=4)
atom_names = mostly(st.sampled_from([" CA ", " N  ", " O  ", " C  "]),
                    st.sampled_from([" H1 ", " D  ", "FE  ", " OW ", "    ", "XX  "]), one_in=4)
residues = mostly(st.sampled_from(["ALA", "GLY", "LYS"]),
                  st.sampled_from(["HOH", "WAT", "DOD", "LIG", "UNK", "ZN", "", "   "]), one_in=4)




@st.composite
def atom_records(draw) -> str:
    record = draw(st.sampled_from(["ATOM  ", "HETATM"]))
    x, y, z = (draw(coordinates) for _ in range(3))
    occupancy = draw(mostly(st.just(1.0), st.one_of(st.floats(-2, 2), st.sampled_from([math.nan, 0.0, 1e5]))))
    b_factor = draw(mostly(st.floats(0, 150), st.one_of(st.floats(-100, 500),
                                                        st.sampled_from([math.nan, math.inf, 1e5]))))
    serial, altloc = draw(st.integers(0, 99999)), draw(st.sampled_from([" ", "A", "B"]))
    chain, residue = draw(st.sampled_from(["A", "B", " ", "1"])), draw(st.integers(-999, 9999))
    line = (f"{record}{serial:>5} {draw(atom_names)}{altloc}{draw(residues):>3} {chain}{residue:>4}    "
            f"{_column(x, 8, 3)}{_column(y, 8, 3)}{_column(z, 8, 3)}{_column(occupancy, 6, 2)}"
            f"{_column(b_factor, 6, 2)}          {draw(elements):>2}")
    edit = draw(mostly(st.just("none"), st.sampled_from(["cut", "insert", "delete"]), one_in=5))
    if edit == "cut":
        line = line[:draw(st.integers(0, len(line)))]
    elif edit == "insert":
        at = draw(st.integers(0, len(line)))
        text = draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=4))
        line = line[:at] + text + line[at:]
    elif edit == "delete":
        at = draw(st.integers(0, len(line)))
        line = line[:at] + line[at + draw(st.integers(1, 4)):]
    return line


def _cif_value(value: float) -> str:
    return "?" if math.isnan(value) else repr(value)


@st.composite
def cif_fragments(draw) -> str:
    columns = ["group_PDB", "id", "type_symbol", "label_atom_id", "label_comp_id", "label_asym_id",
               "label_seq_id", "Cartn_x", "Cartn_y", "Cartn_z", "occupancy", "B_iso_or_equiv"]
    kept = [c for c in columns if not rarely(draw, 10)]
    rows = []
    for i in range(draw(st.integers(0, 6))):
        values = {"group_PDB": draw(st.sampled_from(["ATOM", "HETATM", "X"])), "id": str(i + 1),
                  "type_symbol": draw(elements) or ".", "label_atom_id": draw(st.sampled_from(["CA", "N", "O", "H"])),
                  "label_comp_id": draw(st.sampled_from(["ALA", "HOH", "UNK"])), "label_asym_id": "A",
                  "label_seq_id": str(draw(st.integers(-1, 99))), "occupancy": "1.0", "B_iso_or_equiv": "20.0"}
        for axis in ("x", "y", "z"):
            values[f"Cartn_{axis}"] = _cif_value(draw(coordinates))
        rows.append(" ".join(draw(garbage_tokens) if rarely(draw, 20) else values[c] for c in kept))
    text = "data_fuzz\nloop_\n" + "".join(f"_atom_site.{c}\n" for c in kept) + "\n".join(rows) + "\n"
    return text[:draw(st.integers(0, len(text)))] if rarely(draw, 5) else text


pdb_texts = st.builds(lambda lines, end: "\n".join(lines) + ("\nEND\n" if end else "\n"),
                      mostly(st.lists(atom_records(), min_size=1, max_size=10),
                             st.lists(atom_records(), max_size=2), one_in=4), st.booleans())
WATERS_ONLY = ("HETATM    1  O   HOH A   1       1.000   2.000   3.000  1.00 10.00           O\n"
               "HETATM    2  O   HOH A   2       4.000   2.000   3.000  1.00 10.00           O\nEND\n")
HYDROGENS_ONLY = ("ATOM      1  H1  GLY A   1       1.000   2.000   3.000  1.00 10.00           H\n"
                  "ATOM      2  D2  GLY A   1       2.000   2.000   3.000  1.00 10.00           D\nEND\n")
structure_files = st.one_of(
    pdb_texts.map(lambda text: (".pdb", text.encode())),
    cif_fragments().map(lambda text: (".cif", text.encode())),
    st.tuples(st.sampled_from([".pdb", ".cif"]), st.binary(max_size=300)),
    st.tuples(st.sampled_from([".pdb", ".cif"]),
              st.sampled_from([b"", b"\n", b"END\n", b"MODEL        1\nENDMDL\nEND\n", b"data_x\n", b"\xff\xfe\x00",
                               WATERS_ONLY.encode(), HYDROGENS_ONLY.encode(),
                               b"CRYST1    0.000    0.000    0.000  90.00  90.00  90.00 P 1           1\nEND\n"])),
)
resolutions = mostly(
    st.floats(0.3, 30).map(lambda r: f"{r:.3g}"),
    st.sampled_from(["0", "-1", "-0.0", "nan", ".nan", ".inf", "-.inf", "1e400", "1e-300", "1e6", "1e12", "1e30", "abc",
                     "", "[1, 2]", "null", "true", "{a: 1}", "2.0"]),
    one_in=3,
)


@fuzz_settings(200)
@given(structure=structure_files, resolution=resolutions,
       voxel=st.one_of(st.none(), st.sampled_from(["0.5", "1.0", "3", "0", "-1", ".nan", "1e-9", "1e9"])))
@example(structure=(".pdb", b"ATOM      1  CA  ALA A   1         nan   2.000   3.000  1.00 20.00           C\n"),
         resolution="2.0", voxel=None)
@example(structure=(".pdb", b"ATOM      1  CA  ALA A   1    1000000.000   2.000   3.000  1.00 20.00           C\n"
                            b"ATOM      2  CA  ALA A   2   -1000000.000   2.000   3.000  1.00 20.00           C\n"),
         resolution="2.0", voxel=None)
@example(structure=(".pdb", b"ATOM      1  CA  ALA A   1       1.000   2.000   3.000  1.00 20.00           C\n"),
         resolution="1e-300", voxel=None)
@example(structure=(".cif", b"data_x\nloop_\n_atom_site.Cartn_x\n1.0\n"), resolution="2.0", voxel=None)
@example(structure=(".cif", b""), resolution="1", voxel=None)
@example(structure=(".cif", b"\n"), resolution="1", voxel=None)
def test_fuzzed_structure(tmp_path, structure, resolution, voxel):
    suffix, content = structure
    folder = fresh_folder(tmp_path)
    model = folder / f"in{suffix}"
    model.write_bytes(content)
    out = folder / "out.mrc"
    params = [f"resolution={resolution}", "max_grid_voxels=2000000"]
    if voxel is not None:
        params.append(f"voxel_size={voxel}")
    check_promise("simulate", "gaussian", model, "-o", out, *params, outputs=[out], folders=[folder])
    shutil.rmtree(folder, ignore_errors=True)


ONE_ATOM = "ATOM      1  CA  ALA A   1       1.000   2.000   3.000  1.00 20.00           C\nEND\n"


@pytest.mark.parametrize("params", [["resolution=1e30"], ["voxel_size=1e-19"], ["padding=1e30"],
                                    ["resolution=1e12", "voxel_size=1e-9"]])
def test_fitted_grid_beyond_int64(tmp_path, params):
    """Grids of more than 2**63 voxels along an axis (found by the structure fuzzer): one line."""
    model = tmp_path / "one.pdb"
    model.write_text(ONE_ATOM)
    out = tmp_path / "out.mrc"
    check_promise("simulate", "gaussian", model, "-o", out, *params, "max_grid_voxels=2000000",
                  outputs=[out], folders=[tmp_path])


# -- recipe overrides -----------------------------------------------------------------------------------------

RECIPES = ("struc2mapgan-quickstart", "superem-quickstart", "denoise-quickstart", "example-deblur")


@lru_cache(maxsize=None)
def installed_recipes() -> tuple[str, ...]:
    from emgan_core.recipes import shipped_recipes

    shipped = shipped_recipes()
    return tuple(r for r in RECIPES if r in shipped)


def _paths(value, prefix: str = ""):
    """(dotted key path, value) of every entry of a loaded recipe (list items by index)."""
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for k, v in items:
        key = f"{prefix}{k}"
        yield key, v
        yield from _paths(v, key + ".")


def _default(field_or_parameter):
    default = getattr(field_or_parameter, "default", None)
    if default is dataclasses.MISSING or default is inspect.Parameter.empty:
        factory = getattr(field_or_parameter, "default_factory", dataclasses.MISSING)
        return None if factory is dataclasses.MISSING else factory()
    return default


@lru_cache(maxsize=None)
def known_keys(recipe: str) -> dict:
    """Key -> a typical value, for the keys of ``recipe``: its own, the train and eval settings, its
    components' parameters, the fields of its task's data records (typical: the recipe's value, else
    the default)."""
    from emgan_core.params import _records_in, parameters
    from emgan_core.recipes import LISTS, MULTI, SINGLE, find_recipe, load_recipe
    from emgan_core.registry import get_registry
    from emgan_core.settings.inference import eval_schema
    from emgan_core.settings.train import TrainConfig, train_schema

    registry = get_registry()
    data = load_recipe(find_recipe(recipe)).data
    keys: dict = {}
    train_fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    for name, hint in train_schema().items():
        keys[f"train.{name}"] = _default(train_fields[name]) if name in train_fields else None
        for record in _records_in(hint):
            keys.update({f"train.{name}.{f.name}": _default(f) for f in dataclasses.fields(record)})
    keys.update({f"eval.{k}": None for k in eval_schema()})
    task = data.get("task") or "paired"
    task_name = task.get("name") if isinstance(task, dict) else task
    task_factory = registry.get("task", task_name).component.factory
    for name, hint in (getattr(task_factory, "data_keys", {}) or {}).items():
        keys[f"data.{name}"] = None
        for record in _records_in(hint):
            keys.update({f"data.{name}.0.{f.name}": _default(f) for f in dataclasses.fields(record)})
    specs = []
    for section, kind in SINGLE.items():
        specs.append((section, kind, data.get(section)))
    for section, kind in LISTS.items():
        specs += [(f"{section}.{i}", kind, v) for i, v in enumerate(data.get(section) or [])]
    for section, kind in MULTI.items():
        specs += [(f"{section}.{role}", kind, v) for role, v in (data.get(section) or {}).items()]
    for key, kind, spec in specs:
        name = spec if isinstance(spec, str) else spec.get("name") if isinstance(spec, dict) else None
        entry = registry.entries.get((kind, name))
        if entry is not None:
            keys.update({f"{key}.params.{p}": _default(parameter)
                         for p, (parameter, _) in parameters(entry.component.factory).items()})
    keys.update({k: None for k in ("losses.9.weight", "losses.0.params.x", "data.train.7.map", "train.optimizer.0",
                                   "description.x", "task.name.x", "generator.params.widths.9", "train.betas.1")})
    keys.update(dict(_paths(data)))
    return keys


def near(value):
    """Values of the same shape as ``value``, at and beyond its limits (or any value for None)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.one_of(st.sampled_from([0, 1, -1, value - 1, value + 1, 2 * value, value // 2, 10**9, 2**31, 2**63]),
                         st.integers(-3, 3 * abs(value) + 5))
    if isinstance(value, float):
        return st.one_of(st.sampled_from([0.0, -value, value / 10, value * 10, 1e-12, 1e12, math.nan, math.inf]),
                         st.floats(0, 10 * abs(value) + 1))
    if isinstance(value, str):
        return st.sampled_from([value, value.upper(), value + "x", "", value[:-1]])
    if isinstance(value, (list, tuple)) and value:
        return st.lists(st.one_of(*(near(v) for v in value)), max_size=len(value) + 2)
    return values


def to_yaml(value) -> str:
    """``value`` as one line of YAML flow text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(v) for v in value) + "]"
    return "{" + ", ".join(f"{to_yaml(str(k))}: {to_yaml(v)}" for k, v in value.items()) + "}"


scalars = st.one_of(
    st.none(), st.booleans(),
    st.sampled_from([0, -1, 1, 2, 3, 7, 16, 10**9, 2**31, 2**63, -(2**63), 10**30]),
    st.integers(-1000, 1000),
    st.sampled_from([0.0, -0.0, 1e-9, 0.5, 1.0, -1.0, 1e308, -1e308, 1e-320, math.nan, math.inf, -math.inf]),
    st.floats(),
    st.sampled_from(["", "adam", "cpu", "cuda", "cuda:7", "meta", "auto", "fp16", "bf16", "molmap", "crop",
                     "hann", "bce", "l1", "gaussian", "unetpp3d", "data/1aki.pdb", "/nonexistent.mrc", "x" * 300,
                     "a\nb", "~", "NaN", "1e3", "0x10"]),
    st.text(max_size=12),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.sampled_from(["name", "params", "weight", "lr", "x", "0"]),
                              st.text(min_size=1, max_size=6)), inner, max_size=3)), max_leaves=8)
raw_values = st.one_of(
    values.map(to_yaml),
    st.sampled_from(["", "[", "{", "[1,", "{a: ", ": -", "*alias", "&a [1]", "!!python/object:os.system", "!!binary x",
                     "'", '"', "- a\n- b", "a: b: c", "%YAML 1.1", "---", "...", "? a", "!!float x", "!!int 1.5",
                     "=", "==", "1=2", "{a: 1, a: 2}", "[*a]", "\t", "1e309", "0o17", "0b11", "+.inf", ".NaN"]),
    st.text(st.characters(blacklist_characters="\x00"), max_size=20),
)
_key_text = st.text(st.characters(blacklist_characters="\x00=.", blacklist_categories=("Cs",)), max_size=6)
unknown_keys = st.one_of(
    st.from_regex(r"\A[a-z_][a-z_0-9]{0,7}(\.[a-z_0-9]{1,8}){0,3}\Z"),
    st.lists(_key_text, min_size=1, max_size=4).map(".".join).filter(lambda k: k and not k.startswith("-")),
    st.sampled_from(["losses.\u00b2", "losses.\u00b2.weight", "train.\u0661", "data.train.\u2460.map", "losses.-1",
                     "losses.01.weight", "losses. 0.weight", " train.steps", "train..steps", "train.steps."]),
)


#: network parameters that count layers or blocks, which the networks build one by one and declare with
#: no upper limit: with 10**6 validation builds modules for minutes and gigabytes; these keys get
#: values up to 40
LAYER_COUNTS = {"layers", "blocks", "depth", "convs_per_block"}
layer_count_values = st.one_of(st.integers(-3, 40).map(str),
                               st.sampled_from(["", "x", "1.5", "null", "[1]", ".nan", "true"]))


@st.composite
def overrides_for(draw, recipe: str) -> list[str]:
    known = known_keys(recipe)
    keys = sorted(known)
    out = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["known"] * 7 + ["unknown", "index"]))
        if kind == "known":
            key = draw(st.sampled_from(keys))
        elif kind == "unknown":
            key = draw(unknown_keys)
        else:
            key = f"{draw(st.sampled_from(keys))}.{draw(st.integers(-1, 12))}"
        shaped = draw(st.sampled_from([True, True, True, False]))
        if key.rsplit(".", 1)[-1] in LAYER_COUNTS:
            value = draw(layer_count_values)
        else:
            value = to_yaml(draw(near(known.get(key)))) if shaped else draw(raw_values)
        out.append(f"{key}={value}")
    return out


recipe_cases = st.sampled_from(RECIPES).flatmap(lambda r: st.tuples(st.just(r), overrides_for(r)))


@fuzz_settings(250)
@given(case=recipe_cases)
@example(case=("struc2mapgan-quickstart", ["train.steps=0"]))
@example(case=("superem-quickstart", ["train.optimizer.lr=.nan"]))
@example(case=("denoise-quickstart", ["generator.params.channels=-1"]))
@example(case=("struc2mapgan-quickstart", ["train.patch_size=[]"]))
@example(case=("superem-quickstart", ["losses.0=null"]))
@example(case=("denoise-quickstart", ["train=[1, 2]"]))
def test_fuzzed_recipe_overrides(case):
    recipe, overrides = case
    if recipe not in installed_recipes():
        return
    check_promise("validate", recipe, "--no-files", *overrides)
