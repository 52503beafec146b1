"""Run every method of a benchmark on every input and score it against the reference.

A benchmark is YAML::

    name: struc2mapgan-pairs
    inputs:            # an input (structure or map) and its reference map; extra keys are free
      - {label: emd2566, input: examples/data/3J6B_chain9.pdb,
         reference: examples/data/emd2566_3J6B_chain9.mrc, resolution: 3.2}
    methods:           # a simulator alone (a baseline), a classical filter, a trained checkpoint, or a control
      - {label: gaussian-2A, simulator: {name: gaussian, params: {resolution: 2.0}}}
      - {label: gaussian-own, simulator: {name: gaussian, params: {resolution: ${resolution}}}}
      - {label: gan, checkpoint: runs/demo}
      - {label: lowpass-10A, filter: {name: lowpass, params: {cutoff: 10}}}   # of the input (stacks)
      - {label: control-noise, control: noise}   # noise | constant | input: must score low
    metrics: [chimerax-correlation, thresholded-pcc, thresholded-ssim, pearson, fsc]
    note: one line printed at the top of the report

Many inputs come from a folder, a glob or a CSV table through a ``from`` item, which stands for
one entry per file or row::

    inputs:
      - {from: "models/*.pdb", reference: "maps/{stem}.mrc", resolution: 3.5}   # or a folder
      - {from: pairs.csv, input: "{model}", reference: "{map}"}   # a row per input, columns as keys

A table's columns are the entry's keys (``label``, ``resolution``, ...; relative paths from the
table's folder); a file of a folder or glob gives ``input``. The item's other keys go into every
entry, ``{field}`` in their text filled from the row's columns or the file's ``stem``, ``name``,
``dir`` and ``path``. ``emgan bench FILE.yaml --inputs SOURCE KEY=VALUE...`` adds such an item.
Every input runs as one task (:func:`run_benchmark`): on local worker processes (``--workers``)
or a running Dask cluster (``--scheduler``) as well as in this process.

Inputs may also be image stacks: ``{input: noisy.mrcs, reference: clean.mrcs, star: particles.star}``
(the STAR file, optional, gives a task that reads particle tables the stack's metadata); outputs are
then stacks of the reference's shape, each image normalised on its own, scored by metrics that take
stacks (``image-scores``, ``frc``); controls are per image. An input that is not itself an image
(a DiffraGAN triplet store) names its ``baseline`` file, which the ``input`` control scores instead.

Inputs may be sample sets too (set tables, :mod:`emgan_core.io.sets`): ``{input: test/set.csv,
input_column: density, reference: test/set.csv, reference_column: subtomogram}``. A checkpoint's task
then maps the whole input set (labels carried over) and metrics that compare distributions of
samples score it against the reference set (e.g. FID and PRDC on a classifier's embeddings);
normalisation and controls are per sample.

A checkpoint method (a checkpoint file, run directory or installed model's name) may give
``options`` (keyword options of its task's ``infer``, e.g. ``{pattern: swapped}`` for a DiffraGAN
control, ``{resolution: ${resolution}}``) and ``test_mode`` (``pix2pix`` or ``eval``); torch is seeded
with the benchmark's ``seed`` (0) before every inference, so test-time dropout repeats exactly.

Outputs and references are normalised (``normalise: minmax`` by default; ``zscore`` or ``none``,
which metrics with their own normalisation, as the papers' are, want) after the output is resampled
onto the reference grid; metrics with ``shared_grid = False`` get the output on its own grid, unless
the benchmark says ``on_reference_grid: true`` (every metric on the reference grid: struc2mapGAN's
protocol, whose generated maps are resampled onto the experimental map's grid before scoring).
``${key}`` in a simulator or metric parameter takes the value of ``key`` from the input entry (e.g.
the map's own resolution, its atomic model). A method may also be an ``output`` made elsewhere (a
file, or ``{input label: file}``), scored as it is: another program's result, an earlier run. Controls: ``noise`` is uniform noise on the reference grid, ``constant`` a map of
ones, ``input`` the input itself (or its ``baseline``); each must lose to a real method. The
``reference`` control, the reference scored against itself, is the other end: the best score. Any
method of an image-stack benchmark may add ``score_against: shuffled``: its output is then scored
against the reference images in a fixed derangement (each against another particle's truth), the
control that shows how much of a score needs the right particle.

Overrides change a benchmark file as it is loaded, as ``emgan run`` changes a recipe:
``emgan bench FILE.yaml methods.gan.checkpoint=runs/demo inputs.0.input=x.pdb`` (``key.path=value``
words, values read as YAML; a list item is named by its index or by its ``label`` or ``name``), or
``load_benchmark(path, overrides={"methods.gan.checkpoint": "runs/demo"})`` from code (values as they
are). An input, method or metric set to ``null`` is left out (``methods.control-noise=null``); a key of
an input entry or a method that is ``null`` is missing, and is reported as such until an override
gives it. So a plugin's command runs the benchmark template it ships (``emgan_NAME/benchmarks/``)
with the command's files and options as overrides, the same words ``emgan bench`` takes.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import EmganError, RecipeError
from ..io import read_any, read_structure
from ..io.sets import LabelledSet, read_set
from ..recipes import Recipe, _check_component, override, parse_yaml
from ..registry import Registry, get_registry
from ..transforms import normalise, resample_to_grid
from ..transforms.intensity import NORMALISATIONS
from ..volume import ImageStack, Volume

_VAR = re.compile(r"^\$\{(\w+)\}$")
SECTIONS = {"name", "inputs", "methods", "metrics", "normalise", "note", "seed", "on_reference_grid"}
CONTROLS = ("noise", "constant", "input", "reference")
METHOD_KINDS = ("simulator", "checkpoint", "control", "output", "filter")


@dataclass
class Benchmark:
    name: str
    inputs: list[dict]
    methods: list[dict]
    metrics: list
    path: Path | None = None
    normalise: str = "minmax"
    note: str = ""
    seed: int = 0
    #: every metric sees the output resampled onto the reference grid, those that place maps in
    #: world coordinates too (as a map written with ``--ref-map`` and opened beside its reference)
    on_reference_grid: bool = False


@dataclass
class Result:
    method: str
    input: str
    values: dict[str, float]
    curves: dict = field(default_factory=dict)
    seconds: float = 0.0
    peak_gpu_mb: float | None = None
    output: Volume | ImageStack | None = None
    reference: Volume | ImageStack | None = None
    resolution: float | None = None  # the input entry's resolution (Å), when it gives one
    metric_of: dict[str, str] = field(default_factory=dict)  # value name -> metric that gave it


def load_benchmark(path: str | os.PathLike, registry: Registry | None = None, overrides=(),
                   inputs=()) -> Benchmark:
    """Read a benchmark YAML, apply ``overrides`` (``key.path=value`` words or a mapping
    ``{key.path: value}``, as :func:`emgan_core.recipes.apply_overrides` takes them) and validate it;
    every problem is one line with its place (the file's line, or the override that set the key).
    ``inputs``: more items of the ``inputs`` section, e.g. ``{"from": "pairs.csv"}`` (``emgan bench
    --inputs``); ``from`` items are expanded as the module notes say."""
    registry = registry or get_registry()
    path = Path(path)
    if not path.is_file():
        raise EmganError("benchmark file not found", str(path))
    data, lines = parse_yaml(path.read_text(), str(path))
    if not isinstance(data, dict):
        raise EmganError("a benchmark must be a YAML mapping", str(path))
    data, set_by = override(data, overrides if isinstance(overrides, dict) else list(overrides))
    if inputs:
        given = [x for x in (data.get("inputs") or [])]
        data["inputs"] = given + [dict(x) for x in inputs]
        set_by.update({("inputs", len(given) + k): f"--inputs {x.get('from', '')}" for k, x in enumerate(inputs)})
    recipe = Recipe(data, path, lines, overrides=set_by)
    problems: list[tuple[str, str]] = []
    for key in set(data) - SECTIONS:
        problems.append((key, f"unknown section ({', '.join(sorted(SECTIONS))})"))
    if not isinstance(data.get("seed", 0), int) or isinstance(data.get("seed", 0), bool):
        problems.append(("seed", f"expected an integer, got {data.get('seed')!r}"))
    if not isinstance(data.get("on_reference_grid", False), bool):
        problems.append(("on_reference_grid", f"expected true or false, got {data.get('on_reference_grid')!r}"))
    if data.get("normalise", "minmax") not in NORMALISATIONS:
        problems.append(("normalise", f"expected one of {', '.join(NORMALISATIONS)}"))
    inputs, methods, metrics = data.get("inputs") or [], data.get("methods") or [], data.get("metrics") or []
    inputs = _checked_inputs(inputs, problems)
    if not any(m is not None for m in methods):
        problems.append(("methods", "no methods"))
    _check_methods(methods, registry, problems)
    for i, spec in enumerate(metrics):
        if spec is not None:
            _check_with_variables("metric", spec, f"metrics.{i}", registry, problems)
    if problems:
        raise RecipeError([f"{recipe.where(k)}: {k}: {msg}" for k, msg in problems])
    inputs, methods, metrics = ([x for x in items if x is not None] for items in (inputs, methods, metrics))
    for item in inputs:  # a null key is a missing one
        for key in [k for k, v in item.items() if v is None]:
            del item[key]
    for m in methods:
        if "label" not in m:
            m["label"] = _default_label(m)
    for i, item in enumerate(inputs):
        item.setdefault("label", Path(item["input"]).stem)
    labels = [str(item["label"]) for item in inputs]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise EmganError(f"two inputs share the label '{twice[0]}' (give each a label of its own)", str(path))
    return Benchmark(str(data.get("name") or path.stem), inputs, methods, metrics, path,
                     data.get("normalise", "minmax"), str(data.get("note") or ""), int(data.get("seed", 0)),
                     bool(data.get("on_reference_grid", False)))


def _default_label(method: dict) -> str:
    """A method's label when the benchmark gives none: its component's name, control or file."""
    for kind in ("simulator", "filter"):
        if kind in method:
            spec = method[kind]
            return spec if isinstance(spec, str) else spec["name"]
    if "control" in method:
        return f"control-{method['control']}"
    return "output" if "output" in method else Path(str(method["checkpoint"])).stem


def _checked_inputs(inputs: list, problems: list) -> list:
    """The input entries (``from`` items expanded; None for one left out), each checked: its
    ``input`` and ``reference`` given, the files it names present."""
    entries = _input_entries(inputs, problems)
    if not any(item is not None for _, item in entries):
        problems.append(("inputs", "no inputs"))
    for i, item in entries:
        if item is None:  # left out (an override set it to null)
            continue
        if not isinstance(item, dict) or not {"input", "reference"} <= set(item):
            problems.append((f"inputs.{i}", "each input needs 'input' and 'reference'"))
            continue
        for key in ("input", "reference"):
            if item[key] is None:
                problems.append((f"inputs.{i}.{key}", f"missing: give the file (override inputs.{i}.{key}=FILE)"))
        for key in ("input", "reference", "star", "baseline"):
            if item.get(key) is not None and not Path(item[key]).exists():
                problems.append((f"inputs.{i}.{key}", f"file not found: {item[key]}"))
    return [item for _, item in entries]


_FIELD = re.compile(r"(?<!\$)\{(\w+)\}")


def _input_entries(inputs: list, problems: list) -> list[tuple[int, dict | None]]:
    """(position in the section, entry) of every input entry, ``from`` items expanded: one entry per
    file of a folder or glob, or per row of a CSV table; a problem with a source is one line."""
    entries = []
    for i, item in enumerate(inputs):
        if not (isinstance(item, dict) and "from" in item):
            entries.append((i, item))
            continue
        try:
            entries += [(i, entry) for entry in _from_source(item)]
        except EmganError as err:
            problems.append((f"inputs.{i}.from", err.line()))
    return entries


def _from_source(spec: dict) -> list[dict]:
    """The entries of one ``from`` item. A CSV table: one per row, its columns as keys (relative
    paths from the table's folder); a folder or glob: ``{input: FILE}`` per file. The item's other
    keys are added to each (over a row's own), ``{field}`` in their text replaced by the row's
    column, or the file's ``stem``, ``name``, ``dir`` or ``path``: ``reference: maps/{stem}.mrc``."""
    from ..io.manifest import read_manifest, resolve_path
    from ..many import expand_inputs, input_stem

    source = str(spec["from"])
    keys = {k: v for k, v in spec.items() if k != "from"}
    if source.lower().endswith(".csv"):
        folder = Path(source).parent
        rows = [{k: resolve_path(v, folder) for k, v in row.items()} for row in read_manifest(source)]
    else:
        rows = [{"input": str(f), "stem": input_stem(f), "name": f.name, "dir": str(f.parent), "path": str(f)}
                for f in expand_inputs([source])]
    entries = []
    for row in rows:
        def fill(value, row=row):
            if not isinstance(value, str):
                return value
            unknown = [m for m in _FIELD.findall(value) if m not in row]
            if unknown:
                raise EmganError(f"'{{{unknown[0]}}}' names no field of the entry (fields: {', '.join(row)})",
                                 source)
            return _FIELD.sub(lambda m: str(row[m.group(1)]), value)

        entry = {**row, **{k: fill(v) for k, v in keys.items()}}
        if not source.lower().endswith(".csv"):
            entry = {k: v for k, v in entry.items() if k not in ("stem", "name", "dir", "path") or k in keys}
        entries.append(entry)
    if not entries:
        raise EmganError("lists no inputs", source)
    return entries


def _check_methods(methods: list, registry: Registry, problems: list) -> None:
    """Problems (key, message) of a benchmark's ``methods`` section: kinds, controls, simulators,
    checkpoints and their options."""
    for i, m in enumerate(methods):
        if m is None:  # left out (an override set it to null)
            continue
        if not isinstance(m, dict) or len(set(METHOD_KINDS) & set(m)) != 1:
            problems.append((f"methods.{i}", "each method needs exactly one of 'simulator', 'checkpoint', "
                                             "'filter', 'control' or 'output'"))
            continue
        kind = next(k for k in METHOD_KINDS if k in m)
        if m[kind] is None:
            problems.append((f"methods.{i}.{kind}", f"missing: give it (override methods.{i}.{kind}=...)"))
            continue
        if "output" in m:
            outputs = m["output"] if isinstance(m["output"], dict) else {"": m["output"]}
            problems.extend((f"methods.{i}.output", f"file not found: {f}") for f in outputs.values()
                            if not Path(str(f)).exists())
            continue
        if "control" in m:
            if m["control"] not in CONTROLS:
                problems.append((f"methods.{i}.control", f"unknown control '{m['control']}' "
                                                         f"(one of {', '.join(CONTROLS)})"))
            continue
        if "filter" in m:
            _check_with_variables("filter", m["filter"], f"methods.{i}.filter", registry, problems)
            continue
        if "simulator" in m:
            _check_with_variables("simulator", m["simulator"], f"methods.{i}.simulator", registry, problems)
        elif not Path(m["checkpoint"]).exists() and str(m["checkpoint"]) not in registry.models:
            problems.append((f"methods.{i}.checkpoint", f"file not found (nor an installed model's name; "
                                                        f"see `emgan models`): {m['checkpoint']}"))
        if "checkpoint" not in m and ({"options", "test_mode"} & set(m)):
            problems.append((f"methods.{i}", "'options' and 'test_mode' go with a 'checkpoint' method"))
        if not isinstance(m.get("options", {}), dict):
            problems.append((f"methods.{i}.options", "expected a mapping of keyword options of the task's infer"))
    for i, m in enumerate(methods):
        if isinstance(m, dict) and m.get("score_against", "reference") not in ("reference", "shuffled"):
            problems.append((f"methods.{i}.score_against", f"expected reference or shuffled, got "
                                                           f"{m['score_against']!r}"))


def _check_with_variables(kind: str, spec, key: str, registry: Registry, problems: list) -> None:
    """Check a component spec; its ``${key}`` parameters are checked once substituted, per input."""
    if not isinstance(spec, dict):
        return _check_component(kind, spec, key, registry, problems)
    params = spec.get("params") or {}
    variables = {k for k, v in params.items() if isinstance(v, str) and _VAR.match(v)}
    found: list = []
    _check_component(kind, {**spec, "params": {k: v for k, v in params.items() if k not in variables}}, key,
                     registry, found)
    problems.extend(p for p in found if not any(f"missing required parameter '{v}'" in p[1] for v in variables))


def _substitute(params: dict, item: dict, where: str) -> dict:
    out = {}
    for k, v in params.items():
        m = _VAR.match(v) if isinstance(v, str) else None
        if m:
            if m.group(1) not in item:
                raise EmganError(f"'{v}' needs key '{m.group(1)}' in the input entry", where)
            v = item[m.group(1)]
        out[k] = v
    return out


def read_entry(item: dict, key: str):
    """The map, stack or sample set an input entry names under ``key`` (``input``, ``reference``,
    ``baseline``); a set table is read with the entry's ``<key>_column``."""
    column = item.get(f"{key}_column")
    if column is not None:
        return read_set(item[key], column)
    return read_any(item[key])


def _control(kind: str, item: dict, reference):
    """A map (stack, set) that must score low: noise or a constant on the reference grid, or the input."""
    if kind == "input":
        return read_entry(item, "baseline" if "baseline" in item else "input")
    if kind == "reference":  # the reference scored against itself: the best any method can score
        return reference
    if kind == "constant":
        return _like(reference, np.ones(reference.data.shape, np.float32))
    seed = sum(map(ord, item["label"]))  # the same noise for an input on every run
    return _like(reference, np.random.default_rng(seed).random(reference.data.shape, dtype=np.float32))


def _like(reference, data: np.ndarray):
    if isinstance(reference, ImageStack):
        return ImageStack(data, reference.pixel_size)
    if isinstance(reference, LabelledSet):
        return reference.with_samples(data)
    return reference.with_data(data)


def _normalised(value, mode: str):
    """``value`` normalised as one map, or image by image (sample by sample) for a stack (a set)."""
    return _like(value, normalise(value.data, mode, per_sample=isinstance(value, (ImageStack, LabelledSet))))


def _run_method(method: dict, item: dict, reference, registry: Registry, device: str, seed: int = 0):
    if "output" in method:  # made elsewhere (another program, an earlier run): scored as it is
        outputs = method["output"]
        if isinstance(outputs, dict):
            if item["label"] not in outputs:
                raise EmganError(f"no output for input '{item['label']}'", method["label"])
            outputs = outputs[item["label"]]
        return read_any(outputs)
    if "control" in method:
        return _control(method["control"], item, reference)
    if "filter" in method:  # classical processing of the input: the baseline a user would otherwise run
        spec = method["filter"]
        spec = {"name": spec, "params": {}} if isinstance(spec, str) else spec
        filt = registry.build("filter", spec["name"], **_substitute(spec.get("params") or {}, item, method["label"]))
        table = None
        if item.get("star"):
            from ..io import read_particle_star

            table = read_particle_star(item["star"])
        return filt(read_entry(item, "input"), table)
    if "simulator" in method:
        if isinstance(reference, ImageStack):
            raise EmganError("a simulator method makes maps; this input's reference is an image stack",
                             method["label"])
        spec = method["simulator"]
        spec = {"name": spec, "params": {}} if isinstance(spec, str) else spec
        params = _substitute(spec.get("params") or {}, item, method["label"])
        sim = registry.build("simulator", spec["name"], **params)
        if sim.input_kind == "structure":
            atoms = read_structure(item["input"])
            sim.check_overlap(atoms, reference)
            return sim.simulate(atoms, grid=reference)
        return sim.simulate(read_any(item["input"]))
    task, _ = method["_loaded"] if "_loaded" in method else _loaded_task(method, device)
    torch.manual_seed(seed)  # test-time dropout (pix2pix) draws the same masks on every run
    options = _substitute(dict(method.get("options") or {}), item, method["label"])
    if item.get("star"):
        if not getattr(task, "accepts_star", False):
            raise EmganError(f"task/{type(task).__name__} does not read particle tables: drop 'star'",
                             item["label"])
        from ..io import read_particle_star

        options["star"] = read_particle_star(item["star"])
    source = read_entry(item, "input") if "input_column" in item else item["input"]
    from ..settings.inference import apply_eval_options

    return task.infer(source, device=device, **apply_eval_options(task, options))


#: the tasks of checkpoint methods, loaded once per process (not once per input): (label, checkpoint
#: file, its modification time and size, device, test mode) -> (task, payload), the newest few
_LOADED: dict = {}


def _loaded_task(method: dict, device: str):
    from ..inference import load_for_inference
    from ..io.checkpoints import find_checkpoint
    from ..models import resolve_checkpoint

    path = find_checkpoint(resolve_checkpoint(method["checkpoint"]))
    st = path.stat()
    key = (method["label"], str(path.resolve()), st.st_mtime_ns, st.st_size, device, method.get("test_mode"))
    if key not in _LOADED:
        while len(_LOADED) >= 8:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = load_for_inference(path, device, test_mode=method.get("test_mode"))
    return _LOADED[key]


def _on_reference_grid(out, reference, label: str):
    """The output on the reference's grid (a map resampled; a stack must match image for image; a
    set must hold samples of the reference's shape, any number of them)."""
    if isinstance(reference, LabelledSet):
        if not isinstance(out, LabelledSet) or out.samples.shape[1:] != reference.samples.shape[1:]:
            raise EmganError(f"the reference is a set of {reference.samples.shape[1:]} samples; this method "
                             f"gave {type(out).__name__} {getattr(out, 'data', np.empty(0)).shape}", label)
        return out
    if isinstance(reference, ImageStack):
        if not isinstance(out, ImageStack) or out.data.shape != reference.data.shape:
            raise EmganError(f"the reference is a stack of {reference.data.shape} images; this method gave "
                             f"{type(out).__name__} {getattr(out, 'data', np.empty(0)).shape}", label)
        return out
    if not isinstance(out, Volume):
        raise EmganError(f"the reference is a map; this method returned {type(out).__name__}", label)
    return out if out.same_grid(reference) else resample_to_grid(out, reference)


def run_benchmark(bench: Benchmark, device: str = "cpu", registry: Registry | None = None,
                  progress=None, *, workers: int = 1, scheduler: str | None = None,
                  threads: int | None = None) -> list[Result]:
    """Every method on every input; outputs resampled onto the reference grid and scored.

    One task per input (:func:`emgan_core.parallel.run_tasks`): in this process (``workers`` 1),
    on ``workers`` local processes or on the Dask cluster at ``scheduler`` (whose workers use their
    own registry of installed plugins). ``threads``: torch threads per task (None: torch's default);
    the same number gives the same results however many workers run. ``progress(line)`` is called
    with each result's line as its input finishes. The results come in the benchmark's order; the
    first input that fails stops the run with its error."""
    from ..parallel import check_workers, run_tasks
    from ..progress import Progress

    serial = not scheduler and check_workers(workers, scheduler) == 1
    jobs = [{"bench": bench, "item": item, "device": device, "threads": threads,
             "registry": (registry or get_registry()) if serial else None} for item in bench.inputs]
    done: dict[int, list[Result]] = {}
    with Progress(f"benchmark {bench.name}", total=len(jobs), unit="input") as bar:
        for index, results, error in run_tasks(bench_input, jobs, workers=workers, scheduler=scheduler,
                                               progress=bar):
            if error is not None:
                raise error
            done[index] = results
            for r in results if progress else ():
                progress(f"{r.method} on {r.input}: " + " ".join(f"{k}={v:.3f}" for k, v in r.values.items())
                         + f" ({r.seconds:.2f} s)")
    return [r for index in sorted(done) for r in done[index]]


def bench_input(job: dict) -> list[Result]:
    """Every method of ``job["bench"]`` on one input entry, scored (one task of :func:`run_benchmark`)."""
    from ..many import TASK_LOCK
    from ..parallel import thread_limit

    with TASK_LOCK, thread_limit(job["threads"]):
        return _input_results(job["bench"], job["item"], job["registry"] or get_registry(), job["device"])


def _input_results(bench: Benchmark, item: dict, registry: Registry, device: str) -> list[Result]:
    specs = [(spec, {}) if isinstance(spec, str) else (spec["name"], spec.get("params") or {}) for spec in bench.metrics]
    metrics = [(name, registry.build("metric", name, **_substitute(params, item, f"metric {name}")))
               for name, params in specs]
    reference = _normalised(read_entry(item, "reference"), bench.normalise)
    results = []
    for method in bench.methods:
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        out = _run_method(method, item, reference, registry, device, bench.seed)
        own_grid = _normalised(out, bench.normalise) if isinstance(out, (Volume, ImageStack, LabelledSet)) else out
        out = _normalised(_on_reference_grid(out, reference, method["label"]), bench.normalise)
        seconds = time.perf_counter() - t0
        truth = reference
        if method.get("score_against") == "shuffled":
            truth = shuffled_stack(reference, f"{method['label']} on {item['label']}")
        peak = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
        values, curves, metric_of = {}, {}, {}
        for name, metric in metrics:
            shared = getattr(metric, "shared_grid", True) or bench.on_reference_grid
            r = metric(out if shared else own_grid, truth)
            for k, v in r.values.items():
                key = f"{name}.{k}" if k in values else k
                values[key] = float(v)
                metric_of[key] = name
            curves.update(r.curves)
        res = item.get("resolution")
        results.append(Result(method["label"], item["label"], values, curves, seconds, peak,
                              out, reference, float(res) if res is not None else None, metric_of))
    return results


def shuffled_stack(reference, where: str) -> ImageStack:
    """The reference images in a fixed order in which none keeps its place (image i takes image
    i + 1's place, cyclically): a method's output scored against it is scored against the wrong
    particle, the control that shows how much of a score needs the right one."""
    if not isinstance(reference, ImageStack) or len(reference.data) < 2:
        raise EmganError("score_against: shuffled needs a reference stack of at least 2 images", where)
    return ImageStack(np.roll(reference.data, -1, axis=0), reference.pixel_size)


def summarise(results: list[Result]) -> dict[str, dict[str, dict[str, float]]]:
    """method -> metric -> {mean, median, n}."""
    out: dict = {}
    for r in results:
        for k, v in {**r.values, "seconds": r.seconds}.items():
            out.setdefault(r.method, {}).setdefault(k, []).append(v)
    return {m: {k: {"mean": float(np.mean(v)), "median": float(np.median(v)), "n": len(v)}
                for k, v in d.items()} for m, d in out.items()}
