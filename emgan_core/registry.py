"""The component registry: pluggy, fed by the ``emgan`` entry-point group.

Components are addressed as ``kind/name`` (``generator/unetpp3d``, ``simulator/gaussian``).

A broken plugin breaks only itself: a plugin that fails to import, implements a hook wrongly,
returns wrong records, or takes a name already taken is left out whole (none of its components,
recipes or commands) and recorded in :attr:`Registry.broken` with a one-line reason. The core
(plugin ``core``) comes first and keeps its names; the other plugins follow sorted by name, so
that in a clash the later one is the broken one, whatever the install order.
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import RegistryError
from .records import Command, Component, Model, RecipeDir

ENTRY_POINT_GROUP = "emgan"


def _core_version() -> str:
    from .version import __version__

    return __version__


KINDS = ("simulator", "generator", "critic", "classifier", "loss", "metric", "task", "filter")
_HOOK_OF_KIND = {kind: f"emgan_{kind}s" if kind != "loss" else "emgan_losses" for kind in KINDS}
_KIND_OF_HOOK = {hook: kind for kind, hook in _HOOK_OF_KIND.items()}
_RECORD_OF_HOOK = {**{hook: Component for hook in _KIND_OF_HOOK},
                   "emgan_recipes": RecipeDir, "emgan_commands": Command, "emgan_models": Model}
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
HOOK_NAMES = tuple(sorted(n for n in dir(hookspecs) if n.startswith("emgan_")))


@dataclass(frozen=True)
class Entry:
    """A component with its provenance: the plugin name and the distribution that shipped it."""

    kind: str
    component: Component
    plugin: str
    distribution: str
    version: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.component.name}"


@dataclass
class Registry:
    """All components, recipes and commands of the installed plugins."""

    entries: dict[tuple[str, str], Entry] = field(default_factory=dict)
    recipe_dirs: list[tuple[Path, str]] = field(default_factory=list)
    commands: dict[str, tuple[Command, str]] = field(default_factory=dict)
    models: dict[str, tuple[Model, str]] = field(default_factory=dict)  # name -> (model, plugin)
    plugins: dict[str, tuple[str, str]] = field(default_factory=dict)  # plugin -> (dist, version)
    #: plugins left out: plugin -> (dist, version, one-line reason); the others still work
    broken: dict[str, tuple[str, str, str]] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``kind/name``; an unknown name lists close matches and where names come from."""
        if kind not in KINDS:
            raise RegistryError(f"unknown component kind '{kind}' (kinds: {', '.join(KINDS)})")
        try:
            return self.entries[(kind, name)]
        except KeyError:
            raise RegistryError(self.unknown_message(kind, name)) from None

    def build(self, kind: str, name: str, **params):
        entry = self.get(kind, name)
        factory = entry.component.factory
        missing = sorted(getattr(factory, "__abstractmethods__", ()))
        if missing:  # written for another emgan-core: say which methods, not a bare TypeError
            raise RegistryError(f"{entry.key} from {entry.distribution} {entry.version} does not implement "
                                f"{', '.join(missing)} (emgan-core {_core_version()} API): update the plugin")
        return factory(**params)

    def names(self, kind: str) -> list[str]:
        return sorted(n for k, n in self.entries if k == kind)

    def unknown_message(self, kind: str, name: str) -> str:
        close = difflib.get_close_matches(name, self.names(kind), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        known = ", ".join(self.names(kind)) or "none"
        broken = f"; plugins that failed to load: {self.broken_summary()}" if self.broken else ""
        return (f"unknown {kind} '{name}'{hint}; installed {kind}s: {known}{broken}. "
                "Names come from installed plugins: see `emgan plugins`")

    def broken_summary(self, short: int = 80) -> str:
        """The broken plugins' names, each with its reason when that is at most ``short`` characters."""
        return ", ".join(f"{plugin} ({reason})" if len(reason) <= short else plugin
                         for plugin, (_, _, reason) in sorted(self.broken.items()))

    def add(self, kind: str, component: Component, plugin: str, dist: str, version: str) -> None:
        """Add one component; :func:`collect` has checked its record and name against the others."""
        self.entries[(kind, component.name)] = Entry(kind, component, plugin, dist, version)


class _Broken(Exception):
    """A plugin's fault, as the one-line reason it is left out."""


class _PluginManager(pluggy.PluginManager):
    """emgan's hooks, and ``broken``: the plugins refused before their hooks were called."""

    def __init__(self, broken: dict | None = None):
        super().__init__("emgan")
        self.add_hookspecs(hookspecs)
        self.broken = {} if broken is None else broken


def _one_line(err: BaseException) -> str:
    lines = [line.strip() for line in f"{type(err).__name__}: {err}".splitlines()]
    return "; ".join(line for line in lines if line)


def _mark(broken: dict, plugin: str, dist: str, version: str, reason: str) -> None:
    """Record ``plugin`` as broken (a second broken plugin of one name is keyed with its distribution)."""
    broken[plugin if plugin not in broken else f"{plugin} [{dist}]"] = (dist, version, reason)


def _dist_of(entry_point) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    return (dist.name, dist.version) if dist is not None else ("unknown", "")


def _hook_problem(pm: pluggy.PluginManager, module: Any) -> str | None:
    """Why some ``emgan_*`` function of ``module`` would never be called, or None: a name that is no
    hook (with the closest hook), or a hook function without the marker pluggy looks for."""
    for attr in sorted(dir(module)):
        opts = pm.parse_hookimpl_opts(module, attr)
        if opts is None and not (attr.startswith("emgan_") and callable(getattr(module, attr, None))):
            continue
        hook = (opts or {}).get("specname") or attr
        if hook not in HOOK_NAMES:
            close = difflib.get_close_matches(hook, HOOK_NAMES, n=1, cutoff=0.6)
            hint = f"; did you mean '{close[0]}'?" if close else f" (hooks: {', '.join(HOOK_NAMES)})"
            return f"unknown hook '{hook}'{hint}"
        if opts is None:
            return f"function {attr} is not marked @emgan_core.hookimpl: pluggy would never call it"
    return None


def _register(pm: pluggy.PluginManager, name: str, load) -> str | None:
    """Import plugin ``name`` with ``load()`` and register it; the reason it is broken, or None."""
    try:
        module = load()
    except Exception as err:  # noqa: BLE001 - a broken plugin must name itself, not stop emgan
        return _one_line(err)
    problem = _hook_problem(pm, module)
    if problem is not None:
        return problem
    try:
        pm.register(module, name=name)
        pm.check_pending()
    except (ValueError, pluggy.PluginValidationError) as err:
        if pm.get_plugin(name) is module:
            pm.unregister(name=name)
        return _one_line(err)
    return None


def _candidates(extra_plugins) -> list[tuple[str, str, str, Any]]:
    """(name, dist, version, load) of every ``emgan`` entry point and extra plugin, sorted by name."""
    found = [(ep.name, *_dist_of(ep), ep.load) for ep in md.entry_points(group=ENTRY_POINT_GROUP)]
    found += [(name, dist, version, lambda m=module: m) for name, module, dist, version in extra_plugins]
    return sorted(found, key=lambda c: c[:3])


def plugin_manager(extra_plugins: list[tuple[str, Any, str, str]] = (),
                   broken: dict | None = None) -> tuple[pluggy.PluginManager, dict]:
    """A PluginManager holding emgan's built-in plugin, every ``emgan`` entry point, and ``extra_plugins``
    given as (name, module, distribution, version). Returns it with plugin -> (dist, version).

    A plugin that fails to import, has a hook pluggy would not call, or takes a plugin name already
    taken is left out and recorded in ``broken`` (also ``pm.broken``): plugin -> (dist, version, reason).
    """
    from . import builtin

    pm = _PluginManager(broken)
    origin: dict[str, tuple[str, str]] = {}
    claimed: dict[str, tuple[str, str]] = {}
    for name, dist, version, load in [("core", "emgan-core", _core_version(), lambda: builtin),
                                      *_candidates(extra_plugins)]:
        if name in claimed:
            if claimed[name][0] != dist:  # not the same distribution seen twice on sys.path
                _mark(pm.broken, name, dist, version, f"plugin name '{name}' is already used by "
                      f"{' '.join(claimed[name])}: rename the entry point in {dist} {version}")
            continue
        claimed[name] = (dist, version)
        reason = _register(pm, name, load)
        if reason is None:
            origin[name] = (dist, version)
        elif name == "core":
            raise RegistryError(f"emgan-core's own plugin is broken: {reason}")
        else:
            _mark(pm.broken, name, dist, version, reason)
    return pm, origin


def _records(pm: pluggy.PluginManager, plugin: str) -> list[tuple[str, Any]]:
    """(hook, record) for every record that ``plugin``'s hooks return; _Broken if a hook raises or
    returns anything but a list of that hook's records."""
    found = []
    for hook, record_type in _RECORD_OF_HOOK.items():
        for impl in getattr(pm.hook, hook).get_hookimpls():
            if impl.plugin_name != plugin:
                continue
            try:
                result = impl.function() or []
            except Exception as err:  # noqa: BLE001 - the plugin's fault, not emgan's
                raise _Broken(f"{hook}() raised {_one_line(err)}") from err
            listed = isinstance(result, (list, tuple))
            wrong = [r for r in result if not isinstance(r, record_type)] if listed else [result]
            if wrong:
                raise _Broken(f"{hook} returned {reprlib.repr(wrong[0])}; "
                              f"expected a list of emgan_core.{record_type.__name__} records")
            found += [(hook, record) for record in result]
    return found


#: the core's own subcommands, which no plugin command may take (the CLI's test keeps this in step)
CORE_COMMANDS = frozenset({"plugins", "recipes", "models", "validate", "simulate", "eval", "run", "infer",
                           "bench", "new-plugin", "schema"})


def _clash(what: str, owner: str, plugin: str, origin: dict) -> str:
    """The reason ``plugin`` is broken when ``what`` is taken by ``owner``: which side to rename."""
    here = f"rename it in plugin '{plugin}' ({' '.join(origin[plugin])})"
    if owner == plugin:
        return f"{what} is returned twice by plugin '{plugin}' ({' '.join(origin[plugin])})"
    if owner == "core":
        noun = what.split(" ")[0] if what.startswith(("command ", "model ")) else "component"
        return f"{what} is a core {noun} (emgan-core {_core_version()}): {here}"
    return f"{what} is already registered by plugin '{owner}' ({' '.join(origin[owner])}): {here}"


def _check(reg: Registry, records: list[tuple[str, Any]], plugin: str, origin: dict) -> None:
    """_Broken if a component or command name of ``plugin`` is malformed or already taken."""
    taken = {e.key: e.plugin for e in reg.entries.values()}
    taken |= {f"command '{name}'": "core" for name in CORE_COMMANDS}
    taken |= {f"command '{name}'": owner for name, (_, owner) in reg.commands.items()}
    taken |= {f"model '{name}'": owner for name, (_, owner) in reg.models.items()}
    for hook, record in records:
        if hook == "emgan_recipes":
            continue
        kind = _KIND_OF_HOOK.get(hook)
        noun = "model" if hook == "emgan_models" else "command"
        what = f"{kind}/{record.name}" if kind else f"{noun} '{record.name}'"
        if not (isinstance(record.name, str) and _NAME.match(record.name)):
            raise _Broken(f"{what}: names must be lower-case words joined by dashes")
        if what in taken:
            raise _Broken(_clash(what, taken[what], plugin, origin))
        taken[what] = plugin


def _add(reg: Registry, records: list[tuple[str, Any]], plugin: str, origin: dict) -> None:
    """Add ``plugin`` and all its checked records to ``reg``."""
    dist, version = reg.plugins[plugin] = origin[plugin]
    for hook, record in records:
        if hook == "emgan_recipes":
            reg.recipe_dirs.append((Path(record.path), plugin))
        elif hook == "emgan_commands":
            reg.commands[record.name] = (record, plugin)
        elif hook == "emgan_models":
            reg.models[record.name] = (record, plugin)
        else:
            reg.add(_KIND_OF_HOOK[hook], record, plugin, dist, version)


def collect(pm: pluggy.PluginManager, origin: dict, broken: dict | None = None) -> Registry:
    """Call every plugin's hooks and fill a Registry: the core first, then the others sorted by name.

    A plugin is added whole or not at all: one whose hook raises, returns wrong records, or names
    something malformed or already taken is recorded in ``Registry.broken`` with ``pm.broken`` and
    ``broken``.
    """
    reg = Registry(broken={**getattr(pm, "broken", {}), **(broken or {})})
    for plugin in sorted(origin, key=lambda name: (name != "core", name)):
        try:
            records = _records(pm, plugin)
            _check(reg, records, plugin, origin)
        except _Broken as err:
            if plugin == "core":
                raise RegistryError(f"emgan-core's own plugin is broken: {err}") from err
            _mark(reg.broken, plugin, *origin[plugin], str(err))
            continue
        _add(reg, records, plugin, origin)
    return reg


_REGISTRY: Registry | None = None


def get_registry(refresh: bool = False) -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        broken: dict = {}
        pm, origin = plugin_manager(broken=broken)
        _REGISTRY = collect(pm, origin, broken)
    return _REGISTRY
