"""Checking parameters against a factory's signature and type hints, before any heavy work.

Supported hints: ``int``, ``float`` (ints accepted; NaN and infinities refused), ``bool``, ``str``,
:class:`InputPath` (a file or folder that must exist), ``Path``, ``list[T]``, ``tuple[T, ...]``,
``dict``, ``Literal[...]``, unions / ``None``, ``Any``, limits as ``Annotated[int, Range(min=1)]``
(:class:`Range`), and typed records: a dataclass given as a YAML mapping, whose keys must be its
fields (:func:`check_record` reports each problem at its key path).
"""

from __future__ import annotations

import contextvars
import dataclasses
import difflib
import inspect
import math
import os
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union


class InputPath(str):
    """Type hint for a parameter naming an input file or folder that must exist."""


@dataclasses.dataclass(frozen=True)
class Range:
    """Limits of a number, used as ``Annotated[float, Range(gt=0)]`` in a factory's signature or a
    record's fields: ``min``/``max`` inclusive, ``gt``/``lt`` exclusive; ``also`` lists values
    allowed outside the range (e.g. 0 for "off"). Applies to each item of a list of numbers."""

    min: float | None = None
    max: float | None = None
    gt: float | None = None
    lt: float | None = None
    also: tuple = ()

    def describe(self) -> str:
        parts = [f"≥ {self.min:g}" if self.min is not None else "", f"> {self.gt:g}" if self.gt is not None else "",
                 f"≤ {self.max:g}" if self.max is not None else "", f"< {self.lt:g}" if self.lt is not None else ""]
        text = " and ".join(p for p in parts if p)
        return text + "".join(f" (or {a!r})" for a in self.also)

    def problem(self, value) -> str | None:
        """None when every number in ``value`` (a number or a list of them) is within the limits."""
        for v in (value if isinstance(value, (list, tuple)) else [value]):
            if not isinstance(v, (int, float)) or isinstance(v, bool) or v in self.also:
                continue
            if ((self.min is not None and v < self.min) or (self.max is not None and v > self.max)
                    or (self.gt is not None and v <= self.gt) or (self.lt is not None and v >= self.lt)):
                return f"must be {self.describe()}, got {value!r}"
        return None


def _range_of(hint) -> tuple[Any, Any]:
    """(base hint, its check or None) of ``Annotated[base, check]``, where a check is any object
    with ``problem(value) -> str | None`` and ``describe() -> str`` (a :class:`Range`, or a
    validator such as the trainer's device names); other hints unchanged."""
    if typing.get_origin(hint) is Annotated:
        base, *extra = typing.get_args(hint)
        return base, next((e for e in extra if hasattr(e, "problem")), None)
    return hint, None


#: False while checking the schema only (``emgan validate --no-files``): an :class:`InputPath`
#: then needs to be a string, not an existing file. Set through :func:`emgan_core.recipes.validate`.
CHECK_FILES: contextvars.ContextVar[bool] = contextvars.ContextVar("emgan_check_files", default=True)


def parameters(factory) -> dict[str, tuple[inspect.Parameter, Any]]:
    """Name -> (Parameter, type hint) for a factory's keyword parameters (``self`` and ``*args`` skipped)."""
    target = factory.__init__ if inspect.isclass(factory) else factory
    sig = inspect.signature(factory)
    hints = getattr(factory, "__emgan_hints__", None)
    if hints is None:
        try:
            hints = typing.get_type_hints(target, include_extras=True)
        except Exception:  # noqa: BLE001 - unresolvable hints are simply not checked
            hints = {}
    out = {}
    for name, p in sig.parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or name == "self":
            continue
        out[name] = (p, hints.get(name, Any))
    return out


def _describe(hint) -> str:
    hint, limits = _range_of(hint)
    if limits is not None:
        return f"{_describe(hint)} {limits.describe()}"
    origin = typing.get_origin(hint)
    if hint is Any:
        return "any value"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if hint is InputPath:
        return "an existing file path"
    if origin in (list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return f"a list of {_describe(args[0])}" if args else "a list"
    if origin is dict or hint is dict:
        return "a mapping"
    return getattr(hint, "__name__", str(hint))


def _number(value) -> str | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return f"expected a number, got {value!r}"
    return None if math.isfinite(value) else f"expected a finite number, got {value!r}"


#: scalar hint -> check of a value against it
_SCALARS = {
    bool: lambda v: None if isinstance(v, bool) else f"expected true or false, got {v!r}",
    int: lambda v: None if isinstance(v, int) and not isinstance(v, bool) else f"expected an integer, got {v!r}",
    float: _number,
    str: lambda v: None if isinstance(v, str) else f"expected a string, got {v!r}",
    Path: lambda v: None if isinstance(v, str) else f"expected a path, got {v!r}",
    os.PathLike: lambda v: None if isinstance(v, str) else f"expected a path, got {v!r}",
}


def check_value(value, hint, base_dir: Path | None = None) -> str | None:
    """None when ``value`` fits ``hint``, else a short description of what was expected."""
    hint, limits = _range_of(hint)
    if limits is not None:
        return check_value(value, hint, base_dir) or limits.problem(value)
    origin = typing.get_origin(hint)
    if hint is Any or hint is inspect.Parameter.empty:
        return None
    if origin in (Union, types.UnionType):
        results = [check_value(value, a, base_dir) for a in typing.get_args(hint)]
        if any(r is None for r in results):
            return None
        missing = [r for r in results if r and r.startswith(("file not found", "must be", "expected a finite"))]
        return missing[0] if missing else f"expected {_describe(hint)}, got {value!r}"
    if hint is type(None):
        return None if value is None else f"expected null, got {value!r}"
    if origin is Literal:
        if value in typing.get_args(hint):
            return None
        words = [str(a) for a in typing.get_args(hint)]
        close = difflib.get_close_matches(str(value), words, n=1, cutoff=0.6) if isinstance(value, str) else []
        return f"expected {_describe(hint)}, got {value!r}" + (f" (did you mean '{close[0]}'?)" if close else "")
    if hint is InputPath:
        if not isinstance(value, str):
            return f"expected a file path, got {value!r}"
        if not CHECK_FILES.get():
            return None
        path = Path(value) if base_dir is None or os.path.isabs(value) else base_dir / value
        return None if path.exists() else f"file not found: {value}"
    if hint in _SCALARS:
        return _SCALARS[hint](value)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return f"expected {_describe(hint)}, got {value!r}"
        args = typing.get_args(hint)
        if origin is tuple and args and Ellipsis not in args:
            if len(value) != len(args):
                return f"expected {len(args)} values, got {len(value)}"
            pairs = zip(value, args)
        else:
            pairs = ((v, args[0]) for v in value) if args else ()
        for i, (v, a) in enumerate(pairs):
            problem = check_value(v, a, base_dir)
            if problem:
                return f"item {i}: {problem}"
        return None
    if origin is dict or hint is dict:
        return None if isinstance(value, dict) else f"expected a mapping, got {value!r}"
    if dataclasses.is_dataclass(hint):
        problems = check_record(value, hint, "", base_dir)
        return None if not problems else (f"{problems[0][0].lstrip('.')}: " if problems[0][0] else "") + problems[0][1]
    if inspect.isclass(hint):
        return None if isinstance(value, hint) else f"expected {_describe(hint)}, got {value!r}"
    return None


def record_fields(record) -> dict[str, tuple[Any, bool]]:
    """Field -> (type hint, required) of a dataclass record."""
    hints = typing.get_type_hints(record, include_extras=True)
    return {f.name: (hints.get(f.name, Any), f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
            for f in dataclasses.fields(record)}


def _records_in(hint) -> list:
    """The dataclass records a hint holds directly or as list items (``R``, ``list[R]``, ``R | None``)."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return [hint]
    if origin in (Union, types.UnionType, list, tuple):
        return [r for a in typing.get_args(hint) for r in _records_in(a)]
    return []


def check_record(value, hint, key: str, base_dir: Path | None = None) -> list[tuple[str, str]]:
    """Problems as (key path, message) for ``value`` against ``hint``, descending into lists and
    dataclass records so that each problem names its place (``data.train.0.zone``): an unknown key
    (with a close match), a missing required field, a value of the wrong type or out of range."""
    if typing.get_origin(hint) is Annotated:
        problem = check_value(value, hint, base_dir)
        return [(key, problem)] if problem else []
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            return [(key, f"expected a mapping with {', '.join(record_fields(hint))}, got {value!r}")]
        fields_ = record_fields(hint)
        problems = []
        for k, v in value.items():
            if k not in fields_:
                close = difflib.get_close_matches(str(k), list(fields_), n=1, cutoff=0.6)
                hint_ = f" (did you mean '{close[0]}'?)" if close else ""
                problems.append((f"{key}.{k}", f"unknown key{hint_}; keys: {', '.join(fields_)}"))
            else:
                problems += check_record(v, fields_[k][0], f"{key}.{k}", base_dir)
        problems += [(key, f"missing required key '{k}'") for k, (_, required) in fields_.items()
                     if required and k not in value]
        return problems
    if origin in (list, tuple) and isinstance(value, (list, tuple)) and _records_in(hint):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return [p for i, v in enumerate(value) for p in check_record(v, args[0], f"{key}.{i}", base_dir)]
    if origin in (Union, types.UnionType) and _records_in(hint):
        if check_value(value, hint, base_dir) is None:
            return []
        # report against the record the value was meant for: of the records it could be, the one
        # sharing most keys with it (the first on a tie)
        meant = [a for a in typing.get_args(hint)
                 if _records_in(a) and isinstance(value, dict if dataclasses.is_dataclass(a) else (list, tuple))]
        if meant:
            shared = [len(set(value) & set(record_fields(a))) if dataclasses.is_dataclass(a) else 0 for a in meant]
            return check_record(value, meant[shared.index(max(shared))], key, base_dir)
    problem = check_value(value, hint, base_dir)
    return [(key, problem)] if problem else []


def require_record(value, record, where: str) -> None:
    """Raise :class:`~emgan_core.errors.EmganError` (one line: the first problem at its key path)
    unless ``value`` fits the typed ``record`` (see :func:`check_record`)."""
    problems = check_record(value, record, where)
    if problems:
        from .errors import EmganError

        key, message = problems[0]
        raise EmganError(message, key)


def check_params(factory, params: dict, where: str, base_dir: Path | None = None) -> list[tuple[str, str]]:
    """Problems as (key, message) pairs: unknown names (with close matches), wrong types, missing
    required parameters. An empty list means ``factory(**params)`` gets what it declares."""
    known = parameters(factory)
    problems = []
    accepts_any = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())
    for key, value in params.items():
        if key not in known:
            if accepts_any:
                continue
            close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            choices = ", ".join(known) or "none"
            problems.append((f"{where}.{key}", f"unknown parameter{hint}; parameters: {choices}"))
            continue
        problem = check_value(value, known[key][1], base_dir)
        if problem:
            problems.append((f"{where}.{key}", problem))
    for name, (p, _hint) in known.items():
        if p.default is inspect.Parameter.empty and name not in params:
            problems.append((where, f"missing required parameter '{name}'"))
    return problems
