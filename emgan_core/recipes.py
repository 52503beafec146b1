"""YAML recipes: load, apply dotted overrides, validate completely before any heavy work.

A recipe names registered components with their parameters, plus data, training and evaluation
settings::

    description: one line
    simulator: {name: gaussian, params: {resolution: 2.0}}
    generator: {name: unetpp3d, params: {widths: [32, 64, 128, 256]}}
    critic:    {name: struc2mapgan}
    losses:    [{name: bce, weight: 1.0}, {name: smooth-l1, weight: 100.0}]
    metrics:   [ssim, {name: fsc, params: {thresholds: [0.5]}}]
    data:      {train: [examples/data/a.mrc], ...}
    train:     {steps: 1000, batch_size: 8, optimizer: {name: nadam, lr: 2.0e-4}}
    eval:      {...}

Every problem is reported as ``FILE:LINE: key.path: message``.

Relative paths (values in ``data``, ``eval.inputs`` and ``eval.references`` that look like paths)
are taken from the current folder, else from the recipe's folder: when loaded, a relative path
that does not exist in the current folder but does beside the recipe file is replaced by that
absolute path (so a plugin's recipe can name ``data/x.pdb`` shipped in its ``recipes/data/`` and
run from any folder, and a run directory's ``recipe.yaml`` records where the file was found).
Paths found in neither place are left as written and reported as ``file not found``. Files named
inside a manifest (CSV/STAR) are read as that manifest's reader says.
"""

from __future__ import annotations

import copy
import difflib
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import EmganError, RecipeError
from .params import CHECK_FILES, check_params, check_record, check_value
from .registry import Registry, get_registry
from .settings.inference import RENAMED as EVAL_RENAMED
from .settings.inference import eval_schema
from .settings.train import check_train, train_schema

#: Sections holding one component spec, and the component kind each names.
SINGLE = {"task": "task", "simulator": "simulator", "generator": "generator", "critic": "critic",
          "classifier": "classifier"}
#: Sections holding role -> component spec (e.g. the two generators of a cycle).
MULTI = {"generators": "generator", "critics": "critic", "simulators": "simulator"}
LISTS = {"losses": "loss", "metrics": "metric"}


class RecipeLoader(yaml.SafeLoader):
    """YAML safe loader that also reads ``5e-4`` and ``1E3`` as floats (PyYAML wants ``5.0e-4``)."""


RecipeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_yaml(text: str):
    """``text`` as YAML with :class:`RecipeLoader`; a value its tag cannot hold (``!!float x``,
    ``!!bool maybe``) raises :class:`yaml.YAMLError` like any other invalid YAML."""
    try:
        return yaml.load(text, Loader=RecipeLoader)  # noqa: S506 - a SafeLoader subclass
    except (ValueError, KeyError, AttributeError, TypeError) as err:  # PyYAML's constructors for tagged values
        raise yaml.YAMLError(f"a tagged value that its tag cannot hold ({type(err).__name__}: {err})") from None
FREE = {"description", "data", "train", "eval"}
SECTIONS = sorted(set(SINGLE) | set(MULTI) | set(LISTS) | FREE)

def _train_keys() -> dict[str, Any]:
    """The ``train`` schema is TrainConfig's typed fields (with their limits)."""
    return train_schema()


_PATH_KEYS = ("path", "paths", "file", "files", "dir", "map", "maps", "model", "models",
              "structure", "structures", "reference", "references", "input", "inputs", "stack", "star",
              "target", "targets")
_PATH_SUFFIXES = (".mrc", ".map", ".ccp4", ".mrcs", ".pdb", ".cif", ".ent", ".star", ".csv", ".gz",
                  ".tif", ".tiff", ".h5", ".hdf5", ".zarr", ".yaml", ".yml", ".pt", ".ckpt")


@dataclass
class Recipe:
    """A loaded recipe: ``data`` (plain dict), the file it came from, and YAML line numbers."""

    data: dict
    path: Path | None = None
    lines: dict[tuple, int] = field(default_factory=dict)
    #: key path -> (path as written, path used): relative paths taken from the recipe's folder
    resolved: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: key path (tuple) -> the ``key.path=value`` override that set it
    overrides: dict[tuple, str] = field(default_factory=dict)

    def where(self, key: str) -> str:
        """``FILE:LINE`` of ``key`` in the recipe, or ``override KEY=VALUE`` when an override set it."""
        name = str(self.path) if self.path else "recipe"
        parts = tuple(int(p) if p.isascii() and p.isdigit() else p for p in key.split(".") if p)
        for set_by, item in self.overrides.items():
            if parts[:len(set_by)] == set_by:
                return f"override {item}"
        while parts and parts not in self.lines:
            parts = parts[:-1]
        line = self.lines.get(parts)
        return f"{name}:{line}" if line else name

    def section(self, name: str, default=None):
        return self.data.get(name, default)


# -- loading -----------------------------------------------------------------------------------

def _walk(node, path: tuple, lines: dict):
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[path + (key,)] = key_node.start_mark.line + 1
            _walk(value_node, path + (key,), lines)
            lines[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), lines)


def parse_yaml(text: str, where: str) -> tuple[Any, dict]:
    """Parse YAML text; returns (data, {key path: line}). Syntax errors name the line."""
    try:
        node = yaml.compose(text, Loader=RecipeLoader)
        data = load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise EmganError(f"invalid YAML: {problem}", f"{where}{line}") from None
    lines: dict = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def find_recipe(name_or_path: str | os.PathLike, registry: Registry | None = None) -> Path:
    """A recipe file by path, or by name among the recipes shipped by installed plugins."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.suffix in (".yaml", ".yml") or os.sep in str(name_or_path):
        raise EmganError("recipe file not found", str(path))
    shipped = shipped_recipes(registry)
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)][0]
    close = difflib.get_close_matches(str(name_or_path), list(shipped), n=3, cutoff=0.6)
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    raise EmganError(f"no recipe file or shipped recipe of that name{hint}; see `emgan recipes`",
                     str(name_or_path))


def shipped_recipes(registry: Registry | None = None) -> dict[str, tuple[Path, str]]:
    """Recipe name -> (file, plugin) for every recipe shipped by an installed plugin."""
    registry = registry or get_registry()
    found: dict[str, tuple[Path, str]] = {}
    for folder, plugin in registry.recipe_dirs:
        if not folder.is_dir():
            continue
        for file in sorted(folder.glob("*.y*ml")):
            if file.stem in found:
                raise EmganError(f"recipe '{file.stem}' is shipped twice: by plugin "
                                 f"'{found[file.stem][1]}' and by '{plugin}'")
            found[file.stem] = (file, plugin)
    return found


def override_items(overrides) -> list[tuple[str, Any, str]]:
    """(key path, value, the override as written) of each override: ``key.path=value`` words (the
    value read as YAML, as on a command line) or a mapping ``{key.path: value}`` (values as they are,
    from code: a file name is never read as YAML)."""
    if isinstance(overrides, dict):
        return [(str(key), value, f"{key}={value}") for key, value in overrides.items()]
    items = []
    for item in overrides:
        if "=" not in item:
            raise EmganError(f"override '{item}' must look like key.path=value (e.g. train.steps=2)")
        key, raw = item.split("=", 1)
        try:
            value = load_yaml(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        items.append((key, value, item))
    return items


def _list_index(node: list, part: str, item: str) -> int:
    """The position in ``node`` that a key part names: an index (``methods.0``), else the one item
    whose ``label`` (else ``name``, else plain value) is ``part`` (``methods.generated``,
    ``metrics.fsc``)."""
    if part.isascii() and part.isdigit():
        if int(part) < len(node):
            return int(part)
        raise EmganError(f"override '{item}': '{part}' is not an index of that list")
    for found in ([i for i, v in enumerate(node) if isinstance(v, dict) and v.get("label") == part],
                  [i for i, v in enumerate(node) if isinstance(v, dict) and v.get("name") == part],
                  [i for i, v in enumerate(node) if v == part]):
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise EmganError(f"override '{item}': {len(found)} items of that list are '{part}'; give its index")
    raise EmganError(f"override '{item}': '{part}' is neither an index nor the label or name of an item "
                     f"of that list")


def override(data: dict, overrides) -> tuple[dict, dict[tuple, str]]:
    """A copy of ``data`` with ``overrides`` applied (see :func:`apply_overrides`), and for each the
    key path it set (list positions as ints) -> the override as written."""
    data = copy.deepcopy(data)
    set_by: dict[tuple, str] = {}
    for key, value, item in override_items(overrides):
        parts = key.strip().split(".")
        if not all(parts):
            raise EmganError(f"override '{item}': empty key part")
        node, path = data, []
        for part in parts[:-1]:
            if isinstance(node, list):
                index = _list_index(node, part, item)
                nxt = node[index]
                if nxt is None:
                    nxt = node[index] = {}
                path.append(index)
            else:
                nxt = node.get(part)
                if nxt is None:
                    nxt = node[part] = {}
                path.append(part)
            if not isinstance(nxt, (dict, list)):
                raise EmganError(f"override '{item}': '{part}' holds a value, not a section")
            node = nxt
        last = parts[-1]
        if isinstance(node, list):
            index = _list_index(node, last, item)
            node[index] = value
            path.append(index)
        else:
            node[last] = value
            path.append(last)
        set_by[tuple(path)] = item
    return data, set_by


def apply_overrides(data: dict, overrides) -> dict:
    """A copy of ``data`` with overrides applied: ``key.path=value`` words (values parsed as YAML, as
    ``emgan run`` and ``emgan bench`` take them) or a mapping ``{key.path: value}`` (values as they
    are). A part of a key path names a list item by its index (``losses.0.weight=0.5``) or by its
    ``label`` or ``name`` (``methods.gan.checkpoint=runs/demo``); a missing section is created."""
    return override(data, overrides)[0]


def load_recipe(name_or_path: str | os.PathLike, overrides: list[str] = (),
                registry: Registry | None = None) -> Recipe:
    """Read a recipe (file or shipped name) and apply overrides; not yet validated."""
    path = find_recipe(name_or_path, registry)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise EmganError(f"cannot read recipe ({err})", str(path)) from None
    data, lines = parse_yaml(text, str(path))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EmganError("a recipe must be a YAML mapping of sections", str(path))
    data, set_by = override(data, overrides if isinstance(overrides, dict) else list(overrides))
    recipe = Recipe(data, path, lines, overrides=set_by)
    resolve_paths(recipe)
    return recipe


def _exists(path) -> bool:
    try:
        return Path(path).exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: not a file
        return False


def _path_sections(data: dict):
    """(key, value) of the parts of a recipe whose path-like values are input files."""
    if isinstance(data.get("data"), (dict, list)):
        yield "data", data["data"]
    evaluation = data.get("eval")
    if isinstance(evaluation, dict):
        for key in ("inputs", "references"):
            if isinstance(evaluation.get(key), (list, str)):
                yield f"eval.{key}", evaluation[key]


def resolve_paths(recipe: Recipe) -> Recipe:
    """Replace, in place, each relative input path of ``recipe`` that is missing from the current
    folder but exists beside the recipe file by that absolute path; record it in
    ``recipe.resolved``. Paths found in neither place are left as written (validation reports them)."""
    if recipe.path is None:
        return recipe
    base = Path(os.path.abspath(recipe.path)).parent

    def visit(value, key: str, parent_key: str):
        if isinstance(value, dict):
            return {k: visit(v, f"{key}.{k}", str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, f"{key}.{i}", parent_key) for i, v in enumerate(value)]
        if (isinstance(value, str) and value and _looks_like_path(parent_key, value)
                and not os.path.isabs(os.path.expanduser(value)) and not _exists(value)
                and _exists(base / value)):
            recipe.resolved[key] = (value, str(base / value))
            return str(base / value)
        return value

    for key, value in list(_path_sections(recipe.data)):
        new = visit(value, key, key.rsplit(".", 1)[-1])
        if key == "data":
            recipe.data["data"] = new
        else:
            recipe.data["eval"][key.split(".", 1)[1]] = new
    return recipe


# -- components --------------------------------------------------------------------------------

def spec_of(value) -> dict:
    """A component spec as {"name", "params"} from ``name`` or a mapping."""
    if isinstance(value, str):
        return {"name": value, "params": {}}
    return {"name": value["name"], "params": dict(value.get("params") or {})}


def network_specs(task, data: dict) -> dict[str, dict]:
    """role -> {"kind", "name", "params"} from a recipe's generator/critic(s) sections."""
    specs = {}
    for role, kind in task.roles.items():
        value = data.get(role) if role == kind else (data.get(kind + "s") or {}).get(role)
        if value is None:
            if role in task.optional_roles:
                continue
            section = kind if role == kind else f"{kind}s.{role}"
            raise EmganError(f"the task needs a {kind} for role '{role}'", section)
        specs[role] = {"kind": kind, **spec_of(value)}
    return specs


def build_task(registry: Registry, components: dict, train=None, data=None, eval=None):
    """Task, networks (role -> module) and simulator from component specs (as stored in checkpoints)."""
    task_spec = components["task"]
    task = registry.build("task", task_spec["name"], **task_spec["params"])
    networks = {role: registry.build(s["kind"], s["name"], **s["params"])
                for role, s in components["networks"].items()}
    losses = []
    for s in components.get("losses", []):
        loss = registry.build("loss", s["name"], **s["params"])
        loss.name = s["name"]  # registry name, used in logged term names
        losses.append((loss, float(s.get("weight", 1.0))))
    sim = components.get("simulator")
    simulator = registry.build("simulator", sim["name"], **sim["params"]) if sim else None
    task.bind(networks, losses, train, data, eval, simulator)
    return task, networks


def components_of(recipe: Recipe, registry: Registry) -> dict:
    data = recipe.data
    task_spec = spec_of(data.get("task") or "paired")
    task_cls = registry.get("task", task_spec["name"]).component.factory
    losses = []
    for item in data.get("losses") or []:
        spec = spec_of(item)
        spec["weight"] = float(item.get("weight", 1.0)) if isinstance(item, dict) else 1.0
        losses.append(spec)
    return {"task": task_spec, "networks": network_specs(task_cls, data), "losses": losses,
            "simulator": spec_of(data["simulator"]) if data.get("simulator") else None}



# -- validation --------------------------------------------------------------------------------

def _spec(value, key: str, problems: list) -> tuple[str | None, dict]:
    """(name, params) of a component spec written as ``name`` or ``{name:, params:}``."""
    if isinstance(value, str):
        return value, {}
    if not isinstance(value, dict):
        problems.append((key, f"expected a component name or a mapping with 'name', got {value!r}"))
        return None, {}
    extra = set(value) - {"name", "params", "weight"}
    for k in sorted(extra):
        close = difflib.get_close_matches(k, ["name", "params", "weight"], n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        problems.append((f"{key}.{k}", f"unknown key{hint}; a component has name, params and weight"))
    name = value.get("name")
    if not isinstance(name, str):
        problems.append((key, "missing 'name' of the component"))
        return None, {}
    params = value.get("params") or {}
    if not isinstance(params, dict):
        problems.append((f"{key}.params", f"expected a mapping of parameters, got {params!r}"))
        return name, {}
    if "weight" in value and check_value(value["weight"], float):
        problems.append((f"{key}.weight", f"expected a number, got {value['weight']!r}"))
    return name, params


def _check_component(kind: str, value, key: str, registry: Registry, problems: list) -> None:
    name, params = _spec(value, key, problems)
    if name is None:
        return
    entry = registry.entries.get((kind, name))
    if entry is None:
        problems.append((f"{key}.name" if isinstance(value, dict) else key,
                         registry.unknown_message(kind, name)))
        return
    problems.extend(check_params(entry.component.factory, params, f"{key}.params"))


def _check_keys(section: dict, schema: dict, key: str, problems: list) -> None:
    for k, v in section.items():
        if k not in schema:
            close = difflib.get_close_matches(k, list(schema), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append((f"{key}.{k}", f"unknown setting{hint}"))
            continue
        problems.extend(check_record(v, schema[k], f"{key}.{k}"))


def _looks_like_path(key: str, value: str) -> bool:
    k = key.lower()
    return (any(k == p or k.endswith("_" + p) for p in _PATH_KEYS)
            or value.lower().endswith(_PATH_SUFFIXES))


def _check_paths(value, key: str, problems: list, parent_key: str = "") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _check_paths(v, f"{key}.{k}", problems, str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_paths(v, f"{key}.{i}", problems, parent_key)
    elif isinstance(value, str) and _looks_like_path(parent_key, value) and not Path(value).exists():
        problems.append((key, f"file not found: {value}"))


def _task_keys(recipe: Recipe, registry: Registry, attribute: str) -> dict[str, Any]:
    """A schema the recipe's task declares: ``data_keys`` (the whole ``data`` section, typed
    records for its items)."""
    task = recipe.data.get("task") or "paired"
    name = task.get("name") if isinstance(task, dict) else task
    try:
        factory = registry.get("task", str(name)).component.factory
    except Exception:  # noqa: BLE001 - an unknown task is reported by its own section
        return {}
    return dict(getattr(factory, attribute, {}) or {})


def validate(recipe: Recipe, registry: Registry | None = None, *, files: bool = True,
             memory: bool = True) -> Recipe:
    """Check every section; raise :class:`RecipeError` listing every problem with its place.

    ``files=False`` checks the schema only (sections, keys, types, components, parameters) and
    not that input files exist: for recipes whose data are the user's or an earlier command's.
    Then the recipe is tried on torch's meta device (constructor arguments, patch sizes) and, with
    ``memory``, a training step's memory is compared with what the run's device has here."""
    token = CHECK_FILES.set(files)
    try:
        return _validate(recipe, registry or get_registry(), files, memory)
    finally:
        CHECK_FILES.reset(token)


def _validate(recipe: Recipe, registry: Registry, files: bool, memory: bool = True) -> Recipe:
    problems: list[tuple[str, str]] = []
    for section, value in recipe.data.items():
        if section not in SECTIONS:
            close = difflib.get_close_matches(str(section), SECTIONS, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append((str(section), f"unknown section{hint}; sections: {', '.join(SECTIONS)}"))
        elif section in SINGLE:
            _check_component(SINGLE[section], value, section, registry, problems)
        elif section in MULTI:
            if not isinstance(value, dict):
                problems.append((section, "expected a mapping of role -> component"))
                continue
            for role, spec in value.items():
                _check_component(MULTI[section], spec, f"{section}.{role}", registry, problems)
        elif section in LISTS:
            items = value if isinstance(value, list) else None
            if items is None:
                problems.append((section, f"expected a list of components, got {value!r}"))
                continue
            for i, spec in enumerate(items):
                _check_component(LISTS[section], spec, f"{section}.{i}", registry, problems)
        elif section in ("data", "train", "eval"):
            if value is None:
                continue
            if not isinstance(value, dict):
                problems.append((section, f"expected a mapping, got {value!r}"))
                continue
            if section == "train":
                _check_keys(value, _train_keys(), section, problems)
                problems.extend(check_train(value) if not problems else [])
            elif section == "eval":
                renamed = [k for k in value if k in EVAL_RENAMED]
                for k in renamed:  # read as the new field, so that runs and checkpoints of earlier versions resume
                    warnings.warn(f"{recipe.where('eval.' + k)}: eval.{k} is now eval.{EVAL_RENAMED[k]}: read as "
                                  f"such; rename it in the recipe"
                                  + (" (training patches are train.patch_size)" if k == "patch_size" else ""),
                                  FutureWarning, stacklevel=2)
                _check_keys({k: v for k, v in value.items() if k not in renamed}, eval_schema(), section, problems)
            elif data_keys := _task_keys(recipe, registry, "data_keys"):
                _check_keys(value, data_keys, section, problems)
                problems.extend((section, f"missing '{k}'") for k in ("train",) if k in data_keys and k not in value)
            elif files:
                _check_paths(value, section, problems)
        elif section == "description" and not isinstance(value, str):
            problems.append((section, "expected one line of text"))
    if not problems:
        problems = _try_out(recipe, registry, memory)
    if problems:
        raise RecipeError([f"{recipe.where(key)}: {key}: {msg}" for key, msg in problems])
    return recipe


def _try_out(recipe: Recipe, registry: Registry, memory: bool = True) -> list[tuple[str, str]]:
    """Problems found by building the recipe's components and running one step on torch's meta
    device (:mod:`emgan_core.training.dryrun`): constructor arguments, patch sizes, memory."""
    from .training.dryrun import dry_run

    try:
        components = components_of(recipe, registry)
    except EmganError as err:
        return [(err.where or "task", err.message)]
    return dry_run(recipe, registry, components, memory)
