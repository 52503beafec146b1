"""The core's subcommands: plugins, recipes, validate, simulate, eval."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import yaml

from .. import recipes
from ..errors import EmganError
from ..inference import infer_to_file, resolve_device, std_path
from ..params import check_params
from ..registry import KINDS, get_registry
from .actions import action_parser
from .authoring import add_authoring_commands


def add_core_commands(sub) -> None:
    _add_inspection_commands(sub)
    add_training_commands(sub)
    add_bench_command(sub)
    add_authoring_commands(sub)


def _add_inspection_commands(sub) -> None:
    p = action_parser(sub, "plugins", "list installed plugins, their versions and components, or show one "
                       "component's parameters", "emgan plugins --json\n  emgan plugins show generator/unet")
    p.add_argument("action", nargs="?", choices=("list", "show"), default="list")
    p.add_argument("component", nargs="?", metavar="KIND/NAME",
                   help="with 'show': the component, e.g. generator/unet (its parameters: types, defaults, limits)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_plugins)

    p = action_parser(sub, "recipes", "list the recipes shipped by plugins, show one or print its file's path",
                       "emgan recipes show struc2mapgan-quickstart")
    p.add_argument("action", nargs="?", choices=("list", "show", "path"), default="list")
    p.add_argument("name", nargs="?", help="recipe name (with 'show': its text; 'path': its file, "
                   "beside which its data/ folder holds any data it ships)")
    p.set_defaults(func=cmd_recipes)

    p = action_parser(sub, "models", "list the trained models plugins ship, show a model card, fetch one or "
                       "print its checkpoint's path", "emgan models show struc2mapgan-small\n"
                       "  emgan models fetch superem-published --from Downloads/G_model")
    p.add_argument("action", nargs="?", choices=("list", "show", "fetch", "path", "export"), default="list")
    p.add_argument("name", nargs="?", help="model name (see `emgan models`); export: a checkpoint or run directory")
    p.add_argument("-o", "--output", help="export: the inference checkpoint to write (networks only; its "
                   "SHA-256 is printed, for a plugin's ModelFile record)")
    p.add_argument("--from", dest="source", metavar="PATH", help="fetch: take the file (or a folder holding the "
                   "model's files) from here instead of downloading it; its SHA-256 is checked")
    p.set_defaults(func=cmd_models)

    p = action_parser(sub, "validate", "check a recipe completely (names, parameters, types, files)",
                       "emgan validate recipe.yaml train.steps=2\n"
                       "  emgan validate struc2mapgan-quickstart --no-files")
    p.add_argument("recipe", help="recipe file or shipped recipe name")
    p.add_argument("params", nargs="*", metavar="overrides", help="dotted overrides key.path=value")
    p.add_argument("--no-files", action="store_true", help="check everything but whether input files "
                   "exist (recipes whose data are yours, or made by an earlier command)")
    p.set_defaults(func=cmd_validate)

    p = action_parser(sub, "simulate", "run a registered simulator on a structure or map",
                       "emgan simulate gaussian model.pdb -o sim.mrc resolution=2.0 voxel_size=1.0")
    p.add_argument("name", help="simulator name (see `emgan plugins`)")
    p.add_argument("input", help="input structure (PDB/mmCIF) or map (MRC)")
    p.add_argument("-o", "--output", required=True, help="output file (written atomically)")
    p.add_argument("params", nargs="*", help="simulator parameters key=value")
    p.add_argument("--on-grid", metavar="MAP", help="simulate on this map's grid (shape, voxel size, origin)")
    p.set_defaults(func=cmd_simulate)

    p = action_parser(sub, "eval", "compare an output map/stack with a reference using registered metrics",
                       "emgan eval generated.mrc experimental.mrc --metrics ssim,pearson,fsc --json")
    p.add_argument("output", help="map (.mrc/.map/.ccp4) or image stack (.mrcs)")
    p.add_argument("reference", help="reference of the same kind")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric names (default: maps " + MAP_METRICS
                        + "; image stacks " + STACK_METRICS + ")")
    p.add_argument("params", nargs="*", help="metric parameters metric.key=value, e.g. fsc.thresholds=[0.5]")
    p.add_argument("--pixel-size", type=float, help="Å/pixel for stacks whose header has none")
    p.add_argument("--json", action="store_true", help="machine-readable output (with curves)")
    p.set_defaults(func=cmd_eval)


# -- plugins / recipes / validate ----------------------------------------------------------------

def cmd_plugins(args) -> int:
    if getattr(args, "action", "list") == "show":
        from .authoring import cmd_show_component

        return cmd_show_component(args)
    reg = get_registry()
    plugins = []
    for plugin, (dist, version) in reg.plugins.items():
        comps = {k: sorted(e.component.name for e in reg.entries.values()
                           if e.plugin == plugin and e.kind == k) for k in KINDS}
        plugins.append({"name": plugin, "distribution": dist, "version": version,
                        "components": {k: v for k, v in comps.items() if v},
                        "commands": sorted(n for n, (_, p) in reg.commands.items() if p == plugin)})
    broken = [{"name": name, "distribution": dist, "version": version, "error": reason}
              for name, (dist, version, reason) in sorted(reg.broken.items())]
    if args.json:
        components = [{"kind": e.kind, "name": e.component.name, "key": e.key,
                       "summary": e.component.summary, "plugin": e.plugin,
                       "distribution": e.distribution}
                      for e in sorted(reg.entries.values(), key=lambda e: e.key)]
        json.dump({"plugins": plugins, "broken": broken, "components": components}, sys.stdout, indent=2)
        print()
        return 0
    for p in plugins:
        print(f"{p['name']}  ({p['distribution']} {p['version']})")
        for kind, names in p["components"].items():
            for n in names:
                summary = reg.entries[(kind, n)].component.summary
                print(f"  {kind + '/' + n:<34} {summary}")
        for c in p["commands"]:
            print(f"  {'command/' + c:<34} emgan {c} --help")
    for b in broken:
        print(f"{b['name']}  ({b['distribution']} {b['version']})  BROKEN: {b['error']}")
    return 0


def cmd_recipes(args) -> int:
    from ..recipes import find_recipe, shipped_recipes

    if args.action in ("show", "path"):
        if not args.name:
            raise EmganError(f"recipes {args.action} needs a recipe name; see `emgan recipes`")
        path = find_recipe(args.name)
        if args.action == "path":
            print(os.path.abspath(path))
        else:
            print(path.read_text(), end="")
        return 0
    found = shipped_recipes()
    if not found:
        print("no recipes shipped by the installed plugins")
    for name, (path, plugin) in sorted(found.items()):
        try:
            desc = (yaml.safe_load(path.read_text()) or {}).get("description", "")
        except yaml.YAMLError:
            desc = "(invalid YAML)"
        print(f"{name:<30} [{plugin}] {desc}")
    return 0


def cmd_models(args) -> int:
    from ..models import card_text, checkpoint_path, file_path, get_model

    reg = get_registry()
    if args.action == "list":
        if not reg.models:
            print("no trained models shipped by the installed plugins")
        for name, (model, plugin) in sorted(reg.models.items()):
            where = "shipped" if all(f.path for f in model.files) else "fetched on first use"
            print(f"{name:<28} [{plugin}] task/{model.task}, {model.license}, {where}: {model.summary}")
        return 0
    if not args.name:
        raise EmganError(f"models {args.action} needs a model name; see `emgan models`")
    if args.action == "show":
        print(card_text(args.name), end="")
        return 0
    if args.action == "export":
        from ..io.atomic import check_output
        from ..io.checkpoints import export_for_inference
        from ..models import sha256

        if not args.output:
            raise EmganError("models export needs -o FILE", "--output")
        check_output(args.output, inputs=[args.name])
        payload = export_for_inference(args.name, args.output)
        print(f"{args.output}: step {payload['step']}, {Path(args.output).stat().st_size:,} bytes, "
              f"sha256 {sha256(args.output)}")
        return 0
    if args.action == "fetch":
        model = get_model(args.name)
        for f in model.files:
            print(f"{file_path(model, f, args.source)}: {f.name}, SHA-256 verified")
    print(checkpoint_path(args.name, args.source))
    return 0


def cmd_validate(args) -> int:
    from ..recipes import load_recipe, validate

    recipe = validate(load_recipe(args.recipe, args.params), files=not args.no_files)
    files = "; schema only, input files not checked" if args.no_files else ""
    print(f"{recipe.path}: ok ({len(recipe.data)} sections{files})")
    if recipe.resolved:
        folder = os.path.dirname(os.path.abspath(recipe.path))
        written = ", ".join(dict.fromkeys(w for w, _ in recipe.resolved.values()))
        print(f"  from the recipe's folder {folder}: {written}")
    return 0


# -- simulate ------------------------------------------------------------------------------------

def overwrite_allowed() -> bool:
    """Whether the running command may replace existing outputs (``--overwrite`` on its line)."""
    from ..io.atomic import overwrite_allowed as allowed

    return allowed()


def parse_key_values(items: list[str], where: str) -> dict:
    """``key=value`` strings to a dict, values parsed as YAML (2.0 -> float, [1,2] -> list)."""
    out = {}
    for item in items:
        if "=" not in item:
            raise EmganError(f"'{item}' must look like key=value", where)
        key, raw = item.split("=", 1)
        try:
            out[key] = recipes.load_yaml(raw)
        except yaml.YAMLError:
            out[key] = raw
    return out


def build_checked(kind: str, name: str, params: dict, where: str):
    """Build registered component ``kind/name`` after checking ``params`` against its signature."""
    reg = get_registry()
    entry = reg.get(kind, name)
    problems = check_params(entry.component.factory, params, where)
    if problems:
        raise EmganError("; ".join(f"{k}: {m}" for k, m in problems))
    return entry.component.factory(**params)


def add_simulator_args(p: argparse.ArgumentParser, example: str) -> None:
    """``--recipe NAME`` and repeatable ``--set KEY=VALUE`` (as ``args.sim_params``) for a plugin
    command that runs its simulator; read them back with :func:`simulator_from`."""
    p.add_argument("--recipe", help="take the simulator settings from this recipe's simulator section "
                   "(default: the simulator's own defaults)")
    p.add_argument("--set", dest="sim_params", action="append", default=[], metavar="KEY=VALUE",
                   help=f"simulator setting, repeatable, e.g. {example}")


def simulator_from(name: str, recipe: str | None, params: list[str], where: str):
    """``simulator/NAME`` with the settings of ``recipe``'s simulator section (which must name it),
    updated by ``key=value`` words, checked against its signature."""
    settings = {}
    if recipe:
        section = recipes.load_recipe(recipe).data.get("simulator") or {}
        if section.get("name") != name:
            raise EmganError(f"this recipe has no 'simulator: {{name: {name}}}' section", recipe)
        settings = dict(section.get("params") or {})
    settings.update(parse_key_values(params, where))
    return build_checked("simulator", name, settings, where)


def cmd_simulate(args) -> int:
    from ..io import read_map
    from ..io.atomic import check_output

    params = parse_key_values(args.params, f"simulate {args.name}")
    sim = build_checked("simulator", args.name, params, args.name)
    check_output(args.output, inputs=[args.input, args.on_grid])
    source = sim.read_input(args.input)
    kwargs = {"grid": read_map(args.on_grid)} if args.on_grid else {}
    if args.on_grid:
        sim.check_overlap(source, kwargs["grid"])
    t0 = time.perf_counter()
    result = sim.simulate(source, **kwargs)
    elapsed = time.perf_counter() - t0
    written = sim.write_output(result, args.output)
    shape = getattr(result, "shape", None) or getattr(getattr(result, "data", None), "shape", "")
    where = ", ".join(map(str, written)) if written else args.output
    print(f"{where}: {args.name} simulation of {args.input}, shape {tuple(shape)}, "
          f"{elapsed:.2f} s", file=sys.stderr)
    return 0


# -- eval ------------------------------------------------------------------------------------

MAP_METRICS = "chimerax-correlation,thresholded-pcc,thresholded-ssim,pearson"
STACK_METRICS = "ssim,pearson"


def cmd_eval(args) -> int:
    from ..io import read_any
    from ..transforms import resample_to_grid
    from ..volume import Volume

    output = read_any(args.output, args.pixel_size)
    reference = read_any(args.reference, args.pixel_size)
    default = MAP_METRICS if isinstance(reference, Volume) else STACK_METRICS
    names = [n.strip() for n in (args.metrics or default).split(",") if n.strip()]
    if not names:
        raise EmganError("no metric named", "--metrics")
    per_metric: dict[str, dict] = {n: {} for n in names}
    for key, value in parse_key_values(args.params, "eval").items():
        metric, _, param = key.partition(".")
        if metric not in per_metric or not param:
            raise EmganError(f"'{key}': parameters are given as metric.key=value for one of "
                             f"the metrics named in --metrics ({', '.join(names)})")
        per_metric[metric][param] = value
    metrics = {n: build_checked("metric", n, per_metric[n], f"metric {n}") for n in names}
    on_grid = output
    if isinstance(output, Volume) and isinstance(reference, Volume) and not output.same_grid(reference):
        print(f"note: {args.output} resampled onto the grid of {args.reference} "
              f"(shape {reference.shape}, voxel {reference.voxel_size[0]:.4g} Å) for metrics on one grid",
              file=sys.stderr)
        on_grid = resample_to_grid(output, reference)
    values, curves = {}, {}
    for name, metric in metrics.items():
        result = metric(on_grid if getattr(metric, "shared_grid", True) else output, reference)
        for k, v in result.values.items():
            values[f"{name}.{k}" if k in values else k] = v  # two metrics with one value name
        curves.update(result.curves)
    if args.json:
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in values.items()}
        json.dump({"output": args.output, "reference": args.reference, "metrics": clean,
                   "curves": curves}, sys.stdout, indent=2)
        print()
    else:
        for k, v in values.items():
            print(f"{k:<28} {v}" if isinstance(v, int) else f"{k:<28} {v:.4f}")
    return 0


# -- run / infer -----------------------------------------------------------------------------------

def add_training_commands(sub) -> None:
    p = action_parser(sub, "run", "train a recipe (or resume a run); with torchrun: distributed",
                       "emgan run struc2mapgan-quickstart train.steps=200 -o runs/demo\n"
                       "  emgan run --resume runs/demo\n"
                       "  torchrun --nproc_per_node=4 -m emgan_core.cli.main run recipe.yaml -o runs/ddp")
    p.add_argument("recipe", nargs="?", help="recipe file or shipped recipe name")
    p.add_argument("params", nargs="*", help="dotted overrides key.path=value")
    p.add_argument("-o", "--run-dir", help="run directory (default runs/RECIPE-TIMESTAMP)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its last checkpoint")
    p.set_defaults(func=cmd_run)

    p = action_parser(sub, "infer", "run a trained generator on new inputs (no recipe needed)",
                       "emgan infer runs/demo model.pdb -o generated.mrc --ref-map experimental.mrc\n"
                       "  emgan infer struc2mapgan-small model.pdb -o generated.mrc --resolution 3.5\n"
                       "  emgan infer struc2mapgan-small models/ 'more/*.cif' list.csv -o maps/ --resolution 3.5 "
                       "--workers 4")
    p.add_argument("checkpoint", help="checkpoint file, run directory (its newest checkpoint) or the name of "
                   "a trained model (`emgan models`)")
    p.add_argument("input", nargs="+", help="input map, image stack or structure, as the model was trained; "
                   "several, a folder, a glob ('models/*.pdb') or a CSV table of paths: then OUTPUT is a folder, "
                   "each output named after its input, and a run resumes what an earlier one finished")
    p.add_argument("-o", "--output", required=True, help="output map or stack (written atomically); with "
                   "several inputs, the output folder")
    p.add_argument("--column", help="the column of a CSV table of inputs that holds the paths (default: "
                   "'input', or the table's only column)")
    add_task_options(p)
    p.add_argument("--ref-map", metavar="MAP", help="resample the output onto this map's grid")
    p.add_argument("--batch-size", type=int, help="patches per forward pass")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 … (default: cuda if available)")
    p.add_argument("--resolution", type=float, help="target resolution in Å (resolution-conditioned models)")
    p.add_argument("--star", metavar="STAR", help="particle STAR file of an input .mrcs stack: a copy pointing "
                   "at the output is written beside it (automatic when the input is a STAR file)")
    p.add_argument("--mc-samples", type=int, metavar="N", help="Monte-Carlo dropout: write the mean of N "
                   "stochastic passes, and their per-voxel standard deviation to OUTPUT_std")
    p.add_argument("--eval-mode", action="store_true", help="pix2pix-family models: dropout off and running "
                   "batch-norm statistics, instead of pix2pix's test-time dropout and batch statistics")
    p.set_defaults(func=cmd_infer)


def cmd_run(args) -> int:
    from datetime import datetime

    from ..recipes import load_recipe, validate
    from ..training.rundir import RunDir
    from ..training.trainer import Trainer

    if args.resume:
        overrides = ([args.recipe] if args.recipe else []) + list(args.params or [])
        if args.recipe and "=" not in args.recipe:
            raise EmganError("--resume continues a run with its own recipe; give no recipe (only overrides "
                             f"of {', '.join(sorted(RESUME_OVERRIDES))})", args.recipe)
        for item in overrides:
            key = item.split("=", 1)[0].strip()
            if key not in RESUME_OVERRIDES:
                raise EmganError(f"cannot be changed when resuming (it would not continue the same run); "
                                 f"these can: {', '.join(sorted(RESUME_OVERRIDES))}", f"override {item}")
        run_dir = Path(args.resume)
        if not (run_dir / "recipe.yaml").exists():
            raise EmganError("not a run directory (no recipe.yaml)", str(run_dir))
        recipe = validate(load_recipe(run_dir / "recipe.yaml", overrides))
        Trainer(recipe, run_dir, resume=True).fit()
        return 0
    if not args.recipe:
        raise EmganError("give a recipe (file or shipped name), or --resume RUN_DIR")
    recipe = validate(load_recipe(args.recipe, args.params))
    name = Path(str(args.recipe)).stem
    run_dir = Path(args.run_dir or f"runs/{name}-{datetime.now():%Y%m%d-%H%M%S}")
    RunDir(run_dir).ensure_new()
    Trainer(recipe, run_dir).fit()
    return 0


#: settings ``emgan run --resume RUN key=value`` may change: how long and how it reports, not what it learns
RESUME_OVERRIDES = frozenset({"train.steps", "train.log_every", "train.val_every", "train.checkpoint_every",
                              "train.val_batches", "train.num_workers", "train.device"})


def add_task_options(p: argparse.ArgumentParser) -> None:
    """``--workers``, ``--scheduler`` and ``--threads``: where a command's per-input Dask tasks run."""
    p.add_argument("--workers", type=int, default=1, metavar="N", help="local Dask worker processes, one task "
                   "per input (default 1: in this process, no cluster)")
    p.add_argument("--scheduler", metavar="ADDRESS", help="run the tasks on the Dask cluster at this address "
                   "(tcp://HOST:8786) instead; its workers see the same files at the same paths")
    p.add_argument("--threads", type=int, metavar="N", help="torch threads per task (default: every core in "
                   "this process, 1 per task on workers); the same number gives the same bytes however many "
                   "workers run (e.g. --threads 1 for both)")


def task_threads(args) -> int | None:
    """Torch threads per task: ``--threads``, else every core in this process (None: unchanged)
    and 1 per task on workers (they share the machine's cores)."""
    if args.threads is not None:
        return args.threads
    return None if args.workers == 1 and not args.scheduler else 1


def cmd_infer(args) -> int:
    from ..many import infer_many, is_collection

    inputs, output = args.input, args.output
    if (len(inputs) > 1 or any(is_collection(i) for i in inputs) or Path(output).is_dir()
            or output.endswith(("/", os.sep))):
        if args.star:
            raise EmganError("--star goes with one input and one output file; give the STAR files themselves "
                             "as inputs", "--star")
        report = infer_many(args.checkpoint, inputs, output, column=args.column, workers=args.workers,
                            scheduler=args.scheduler, threads=task_threads(args), ref_map=args.ref_map,
                            device=args.device, eval={"batch_size": args.batch_size}, resolution=args.resolution,
                            mc_samples=args.mc_samples, test_mode="eval" if args.eval_mode else None)
        print(f"{output}: {len(report.written)} written, {len(report.skipped)} up to date, in "
              f"{report.seconds:.1f} s (manifest: {report.manifest})", file=sys.stderr)
        return 0
    if args.column:
        raise EmganError("--column goes with a CSV table of inputs", "--column")
    _, ckpt, seconds, device = infer_to_file(
        args.checkpoint, inputs[0], args.output, ref_map=args.ref_map, device=args.device,
        eval={"batch_size": args.batch_size}, resolution=args.resolution, star=args.star, mc_samples=args.mc_samples,
        test_mode="eval" if args.eval_mode else None)
    mc = f", mean of {args.mc_samples} dropout samples (std: {std_path(args.output)})" if args.mc_samples else ""
    print(f"{args.output}: {ckpt['components']['task']['name']} inference (step {ckpt['step']}) in "
          f"{seconds:.2f} s on {device}{mc}", file=sys.stderr)
    return 0


# -- bench ------------------------------------------------------------------------------------------

def add_bench_command(sub) -> None:
    p = action_parser(sub, "bench", "run methods (simulators, checkpoints) over inputs and write a report",
                       "emgan bench benchmarks/struc2mapgan/pairs.yaml -o out/bench\n"
                       "  emgan bench benchmarks/denoise/quickstart.yaml methods.denoise-quickstart.checkpoint=runs/d "
                       "-o out/bench")
    p.add_argument("benchmark", help="benchmark YAML (inputs, methods, metrics)")
    p.add_argument("params", nargs="*", metavar="overrides",
                   help="dotted overrides key.path=value; a list item by index or label "
                        "(methods.gan.checkpoint=runs/demo); null leaves an input, method or metric out")
    p.add_argument("-o", "--out", required=True, help="output folder for results and report")
    p.add_argument("--device", default="auto", help="cpu, cuda … (default: cuda if available)")
    p.add_argument("--inputs", nargs="+", action="append", default=[], metavar=("SOURCE", "KEY=VALUE"),
                   help="more inputs, repeatable: a CSV table (a row per input; columns input, reference, "
                        "label, resolution …) or a folder or glob of input files, then keys every entry "
                        "gets, {field} filled from the row or the file ({stem}, {name}, {dir}, {path}): "
                        "--inputs 'models/*.pdb' reference=maps/{stem}.mrc resolution=3.5")
    add_task_options(p)
    p.set_defaults(func=cmd_bench)


def _bench_inputs(groups: list[list[str]], overrides: list[str]) -> list[dict]:
    """``--inputs`` words as ``from`` items of the inputs section; a dotted key=value word among
    them is a benchmark override that followed the option (moved to ``overrides``)."""
    items = []
    for words in groups:
        item = {"from": words[0]}
        for word in words[1:]:
            key, sep, raw = word.partition("=")
            if not sep or not key:
                raise EmganError(f"'{word}' must look like key=value (a key of the input entries)", "--inputs")
            if "." in key:
                overrides.append(word)
                continue
            item[key] = raw if "{" in raw else parse_key_values([word], "--inputs")[key]
        items.append(item)
    return items


def cmd_bench(args) -> int:
    from ..bench import load_benchmark, run_benchmark, write_report
    from ..bench.report import report_paths

    overrides = list(args.params or [])
    extra = _bench_inputs(args.inputs, overrides)
    bench = load_benchmark(args.benchmark, overrides=overrides, inputs=extra)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise EmganError("exists and is not a folder", str(out))
    report_paths(out, check=True)
    results = run_benchmark(bench, resolve_device(args.device), progress=lambda msg: print(msg, file=sys.stderr),
                            workers=args.workers, scheduler=args.scheduler, threads=task_threads(args))
    paths = write_report(bench, results, out)
    print(f"report: {paths['html']} (tables: {paths['md']}, data: {paths['csv']}, {paths['json']})",
          file=sys.stderr)
    return 0
