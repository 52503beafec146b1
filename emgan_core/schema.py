"""A JSON Schema (draft 2020-12) of recipes, and the parameters of a registered component, from the
same type hints that ``emgan validate`` checks (:mod:`emgan_core.params`).

``emgan schema`` writes :func:`recipe_schema` for editors (completion, and a recipe checked as it is
typed); ``emgan plugins show KIND/NAME`` prints :func:`component_parameters`. The schema covers what
a JSON Schema can say: sections, component names, parameter names, types, defaults, limits and
choices. ``emgan validate`` checks more (files that must exist, the settings an optimiser takes, a
step on torch's meta device).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

from .params import InputPath, Range, _describe, _range_of, parameters, record_fields

DRAFT = "https://json-schema.org/draft/2020-12/schema"


# -- type hints as JSON Schema ---------------------------------------------------------------------

_SCALARS = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "string", os.PathLike: "string"}


def _bounds(limits: Range) -> dict:
    keys = {"minimum": limits.min, "maximum": limits.max, "exclusiveMinimum": limits.gt, "exclusiveMaximum": limits.lt}
    return {k: v for k, v in keys.items() if v is not None}


def _limited(schema: dict, limits: Range) -> dict:
    """``schema`` with ``limits`` on its numbers (on each item of a list, as :class:`Range` applies)."""
    if schema.get("type") in ("integer", "number"):
        bounded = {**schema, **_bounds(limits)}
        return {"anyOf": [bounded, {"enum": list(limits.also)}]} if limits.also else bounded
    if schema.get("type") == "array":
        out = dict(schema)
        if "items" in out:
            out["items"] = _limited(out["items"], limits)
        if "prefixItems" in out:
            out["prefixItems"] = [_limited(s, limits) for s in out["prefixItems"]]
        return out
    if "anyOf" in schema:
        return {**schema, "anyOf": [_limited(s, limits) for s in schema["anyOf"]]}
    return schema


def hint_schema(hint) -> dict:
    """The JSON Schema of values that fit type hint ``hint`` (as :func:`emgan_core.params.check_value`
    reads it): ``{}`` accepts anything, e.g. a hint that no recipe value can hold."""
    hint, check = _range_of(hint)
    if check is not None:
        base = hint_schema(hint)
        return _limited(base, check) if isinstance(check, Range) else {**base, "description": check.describe()}
    origin = typing.get_origin(hint)
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    if origin is Literal:
        return {"enum": list(typing.get_args(hint))}
    if origin in (Union, types.UnionType):
        return _union([hint_schema(a) for a in typing.get_args(hint)])
    if hint is type(None):
        return {"type": "null"}
    if hint is InputPath:
        return {"type": "string", "description": "path of an existing file or folder"}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if origin in (list, tuple) or hint in (list, tuple):
        args = typing.get_args(hint)
        if origin is tuple and args and Ellipsis not in args:
            return {"type": "array", "prefixItems": [hint_schema(a) for a in args],
                    "minItems": len(args), "maxItems": len(args)}
        return {"type": "array", "items": hint_schema(args[0])} if args else {"type": "array"}
    if origin is dict or hint is dict:
        return {"type": "object"}
    if dataclasses.is_dataclass(hint):
        return record_schema(hint)
    return {"description": f"{getattr(hint, '__name__', hint)} (not checked here)"}


def _union(parts: list[dict]) -> dict:
    """anyOf ``parts``, written as one ``type`` list where every part is a bare type."""
    if any(p == {} for p in parts):
        return {}
    if all(set(p) == {"type"} and isinstance(p["type"], str) for p in parts):
        return {"type": list(dict.fromkeys(p["type"] for p in parts))}
    return {"anyOf": parts}


def _json_value(value):
    """``value`` as JSON data (tuples as lists), or ``...`` when it has no JSON form."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else ...
    if isinstance(value, (list, tuple)):
        items = [_json_value(v) for v in value]
        return ... if any(i is ... for i in items) else items
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        items = {k: _json_value(v) for k, v in value.items()}
        return ... if any(i is ... for i in items.values()) else items
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return ...


def record_schema(record) -> dict:
    """A typed record (a dataclass given as a YAML mapping): its fields, the required ones, no others."""
    fields_ = record_fields(record)
    properties = {}
    for f in dataclasses.fields(record):
        properties[f.name] = dict(hint_schema(fields_[f.name][0]))
        default = f.default if f.default is not dataclasses.MISSING else (
            f.default_factory() if f.default_factory is not dataclasses.MISSING else ...)
        if _json_value(default) is not ...:
            properties[f.name]["default"] = _json_value(default)
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    required = [name for name, (_, needed) in fields_.items() if needed]
    if required:
        schema["required"] = required
    doc = _first_paragraph(record.__doc__)
    return {"description": doc, **schema} if doc else schema


# -- a component's parameters ---------------------------------------------------------------------

@dataclass(frozen=True)
class Parameter:
    """One constructor parameter of a component, as a recipe gives it."""

    name: str
    hint: Any
    default: Any  # inspect.Parameter.empty when required
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def type_text(self) -> str:
        return _describe(_without_limits(self.hint))

    @property
    def limits_text(self) -> str:
        return "; ".join(dict.fromkeys(c.describe() for c in _checks(self.hint)))

    def schema(self) -> dict:
        out = dict(hint_schema(self.hint))
        if not self.required and _json_value(self.default) is not ...:
            out["default"] = _json_value(self.default)
        if self.doc:
            out["description"] = self.doc
        return out


def _without_limits(hint):
    """``hint`` with every ``Annotated[...]`` replaced by its base type."""
    hint, _ = _range_of(hint)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return Union[tuple(_without_limits(a) for a in args)]
    if origin in (list, tuple) and args:
        return origin[tuple(_without_limits(a) if a is not Ellipsis else a for a in args)]
    return hint


def _checks(hint) -> list:
    """The checks (:class:`Range` and the like) ``Annotated`` attaches anywhere in ``hint``."""
    hint, check = _range_of(hint)
    found = [check] if check is not None else []
    for arg in typing.get_args(hint):
        if arg is not Ellipsis and typing.get_origin(hint) is not Literal:
            found += _checks(arg)
    return found


def _first_paragraph(doc: str | None) -> str:
    text = inspect.cleandoc(doc or "").split("\n\n")[0]
    return " ".join(text.split())


_ARG = re.compile(r"^(\*{0,2}\w+)(?:\s*\([^)]*\))?:\s*(.*)$")


def argument_docs(doc: str | None) -> dict[str, str]:
    """Parameter name -> its text in the ``Args:`` section of a Google-style docstring (several
    names joined by commas share one text)."""
    lines = inspect.cleandoc(doc or "").splitlines()
    found: dict[str, str] = {}
    inside, current, indent = False, [], None
    for line in lines:
        if line.strip() in ("Args:", "Arguments:", "Parameters:"):
            inside, indent = True, None
            continue
        if not inside:
            continue
        if line.strip() and not line.startswith(" "):
            break
        stripped = line.strip()
        width = len(line) - len(line.lstrip())
        names, _, text = stripped.partition(":")
        if stripped and (indent is None or width <= indent) and text and re.fullmatch(r"[\w*, ]+", names):
            indent = width
            current = [n.strip().lstrip("*") for n in names.split(",")]
            for name in current:
                found[name] = text.strip()
        elif stripped and current:
            for name in current:
                found[name] += " " + stripped
    return found


def component_parameters(factory) -> list[Parameter]:
    """The recipe parameters of ``factory`` (a class or function), in signature order, with their
    ``Args:`` docstring text (the class's or its ``__init__``'s)."""
    docs = {**argument_docs(getattr(factory, "__init__", None).__doc__ if inspect.isclass(factory) else None),
            **argument_docs(factory.__doc__)}
    return [Parameter(name, hint, p.default, docs.get(name, ""))
            for name, (p, hint) in parameters(factory).items()]


def component_schema(kind: str, name: str, factory) -> dict:
    """``{name: NAME, params: {...}}`` (and ``weight``, as any component spec may carry) for one
    registered component; the bare name too when it needs no parameter."""
    params = component_parameters(factory)
    open_ended = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    params_schema = {"type": "object", "properties": {p.name: p.schema() for p in params},
                     "additionalProperties": open_ended}
    required = [p.name for p in params if p.required]
    if required:
        params_schema["required"] = required
    else:
        params_schema["type"] = ["object", "null"]
    spec = {"type": "object", "properties": {"name": {"const": name}, "params": params_schema,
                                             "weight": {"type": "number"}},
            "required": ["name", "params"] if required else ["name"], "additionalProperties": False}
    summary = _first_paragraph(factory.__doc__)
    alternatives = [spec] if required else [{"const": name}, spec]
    return {"title": f"{kind}/{name}", **({"description": summary} if summary else {}), "oneOf": alternatives}


# -- the recipe schema -----------------------------------------------------------------------------

def _defs_key(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def _component_defs(registry, warn) -> dict:
    """``$defs``: one schema per registered component, and per kind a ``oneOf`` over them."""
    from .errors import EmganError
    from .registry import KINDS

    defs: dict[str, dict] = {}
    for kind in KINDS:
        names = registry.names(kind)
        for name in names:
            try:
                factory = registry.get(kind, name).component.factory
            except EmganError as err:  # a component that cannot be imported here: its name only
                warn(f"{kind}/{name}: parameters left unchecked ({err.line()})")
                defs[_defs_key(kind, name)] = {"title": f"{kind}/{name}", "oneOf": [
                    {"const": name}, {"type": "object", "properties": {"name": {"const": name}, "params": {},
                                                                     "weight": {"type": "number"}},
                                      "required": ["name"], "additionalProperties": False}]}
                continue
            defs[_defs_key(kind, name)] = component_schema(kind, name, factory)
        defs[kind] = {"description": f"a registered {kind}: its name, or {{name:, params:}}",
                      "oneOf": [{"$ref": f"#/$defs/{_defs_key(kind, n)}"} for n in names]}
    return defs


def _task_condition(name: str, default: bool) -> dict:
    """``if``: the recipe's task is ``name`` (or, for the default task, no task is given)."""
    named = {"required": ["task"], "properties": {"task": {"anyOf": [
        {"const": name}, {"type": "object", "required": ["name"], "properties": {"name": {"const": name}}}]}}}
    return {"anyOf": [named, {"not": {"required": ["task"]}}]} if default else named


def _task_sections(registry, warn) -> list[dict]:
    """Per task that declares ``data_keys``: its ``data`` section's schema, applied when the recipe
    names that task."""
    from .errors import EmganError

    rules = []
    for name in registry.names("task"):
        try:
            keys = dict(getattr(registry.get("task", name).component.factory, "data_keys", {}) or {})
        except EmganError:
            continue  # warned about with its parameters
        if not keys:
            continue
        data = {"type": ["object", "null"], "properties": {k: hint_schema(h) for k, h in keys.items()},
                "additionalProperties": False}
        if "train" in keys:
            data["required"] = ["train"]
        rules.append({"if": _task_condition(name, name == "paired"), "then": {"properties": {"data": data}}})
    return rules


def _settings(keys: dict, record=None) -> dict:
    """An object of ``keys`` (name -> type hint), no others, with the defaults of ``record``."""
    defaults = {}
    if record is not None:
        for f in dataclasses.fields(record):
            value = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else ...)
            if _json_value(value) is not ...:
                defaults[f.name] = _json_value(value)
    properties = {k: {**hint_schema(h), **({"default": defaults[k]} if k in defaults else {})}
                  for k, h in keys.items()}
    return {"type": "object", "properties": properties, "additionalProperties": False}


def recipe_schema(registry=None, warn=lambda line: None) -> dict:
    """The JSON Schema (draft 2020-12) of a recipe, for the components registered in ``registry``
    (default: the installed ones). ``warn(line)`` hears of components whose parameters could not be
    read (their module does not import here)."""
    from .recipes import LISTS, MULTI, SECTIONS, SINGLE
    from .registry import get_registry
    from .settings.inference import EvalSettings, eval_schema
    from .settings.train import TrainConfig, train_schema
    from .version import __version__

    registry = registry or get_registry()
    defs = _component_defs(registry, warn)
    properties: dict[str, dict] = {"description": {"type": "string", "description": "one line: what the recipe does"}}
    for section, kind in SINGLE.items():
        properties[section] = {"$ref": f"#/$defs/{kind}"}
    for section, kind in MULTI.items():
        properties[section] = {"type": "object", "description": f"role -> {kind}",
                               "additionalProperties": {"$ref": f"#/$defs/{kind}"}}
    for section, kind in LISTS.items():
        properties[section] = {"type": "array", "items": {"$ref": f"#/$defs/{kind}"}}
    properties["data"] = {"type": ["object", "null"], "description": "the task's data (see its data items)"}
    properties["train"] = {**_settings(train_schema(), TrainConfig), "type": ["object", "null"],
                           "description": "training settings (emgan_core.settings.train.TrainConfig)"}
    properties["eval"] = {**_settings(eval_schema(), EvalSettings), "type": ["object", "null"],
                          "description": "inference settings (emgan_core.settings.inference.EvalSettings)"}
    missing = set(SECTIONS) - set(properties)
    if missing:  # a section added to recipes.SECTIONS needs its schema here
        raise RuntimeError(f"recipe sections without a schema: {sorted(missing)}")
    schema = {"$schema": DRAFT, "title": "emgan recipe",
              "description": f"A recipe of emgan {__version__} with the components installed where it was "
                             "written (`emgan schema`); `emgan validate` checks more (files, a dry run).",
              "type": "object", "properties": properties, "additionalProperties": False, "$defs": defs}
    rules = _task_sections(registry, warn)
    if rules:
        schema["allOf"] = rules
    return schema
