"""The component registry: pluggy, fed by the ``emgan`` entry-point group.

Components are addressed as ``kind/name`` (``generator/unetpp3d``, ``simulator/gaussian``).
"""

from __future__ import annotations

import difflib
import importlib.metadata as md
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from . import hookspecs
from .errors import RegistryError
from .records import Command, Component, RecipeDir  # noqa: F401 - re-exported

ENTRY_POINT_GROUP = "emgan"


def _core_version() -> str:
    from .version import __version__

    return __version__
KINDS = ("simulator", "generator", "critic", "classifier", "loss", "metric", "task")
_HOOK_OF_KIND = {kind: f"emgan_{kind}s" if kind != "loss" else "emgan_losses" for kind in KINDS}
_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


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
    plugins: dict[str, tuple[str, str]] = field(default_factory=dict)  # plugin -> (dist, version)
    #: plugins that failed to load: plugin -> (dist, version, one-line reason); the others still work
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
        broken = (f"; plugins that failed to load: {', '.join(sorted(self.broken))}" if self.broken else "")
        return (f"unknown {kind} '{name}'{hint}; installed {kind}s: {known}{broken}. "
                "Names come from installed plugins: see `emgan plugins`")

    def add(self, kind: str, component: Component, plugin: str, dist: str, version: str) -> None:
        if not isinstance(component, Component):
            raise RegistryError(f"plugin '{plugin}' ({dist}) returned {component!r} from "
                                f"{_HOOK_OF_KIND[kind]}; expected emgan_core.Component records")
        if not _NAME.match(component.name):
            raise RegistryError(f"plugin '{plugin}' ({dist}) registers {kind} '{component.name}': "
                                "names must be lower-case words joined by dashes")
        key = (kind, component.name)
        if key in self.entries:
            other = self.entries[key]
            raise RegistryError(
                f"{kind}/{component.name} is registered twice: by plugin '{other.plugin}' from "
                f"distribution {other.distribution} {other.version} and by plugin '{plugin}' from "
                f"distribution {dist} {version}; uninstall one of them")
        self.entries[key] = Entry(kind, component, plugin, dist, version)


def _dist_of(entry_point) -> tuple[str, str]:
    dist = getattr(entry_point, "dist", None)
    return (dist.name, dist.version) if dist is not None else ("unknown", "")


HOOK_NAMES = tuple(sorted(n for n in dir(hookspecs) if n.startswith("emgan_")))


def _check_hook_names(module: Any, name: str, dist: str) -> None:
    """Every ``emgan_*`` hook implementation of a plugin must name a hook; a typo is an error with a
    close match (pluggy would otherwise keep it unverified and never call it)."""
    for attr in dir(module):
        if not attr.startswith("emgan_") or attr in HOOK_NAMES:
            continue
        if not callable(getattr(module, attr)):
            continue
        close = difflib.get_close_matches(attr, HOOK_NAMES, n=1, cutoff=0.6)
        hint = f"; did you mean '{close[0]}'?" if close else f" (hooks: {', '.join(HOOK_NAMES)})"
        raise RegistryError(f"plugin '{name}' from distribution {dist} implements unknown hook '{attr}'{hint}")


def _register(pm: pluggy.PluginManager, module: Any, name: str, dist: str) -> None:
    _check_hook_names(module, name, dist)
    pm.register(module, name=name)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as err:
        pm.unregister(name=name)
        raise RegistryError(f"plugin '{name}' from distribution {dist}: {err}") from err


def plugin_manager(extra_plugins: list[tuple[str, Any, str, str]] = (),
                   broken: dict | None = None) -> tuple[pluggy.PluginManager, dict]:
    """A PluginManager holding emgan's built-in plugin, every ``emgan`` entry point, and ``extra_plugins``
    given as (name, module, distribution, version). Returns it with plugin -> (dist, version).

    An entry point that fails to import is left out and recorded in ``broken`` (plugin -> (dist,
    version, reason)) so that one broken plugin does not disable the others; a plugin whose hooks are
    wrong (an unknown hook name) is an error, since it imported but would silently do nothing.
    """
    from . import builtin
    from .version import __version__

    pm = pluggy.PluginManager("emgan")
    pm.add_hookspecs(hookspecs)
    origin = {}
    _register(pm, builtin, "core", "emgan-core")
    origin["core"] = ("emgan-core", __version__)
    for ep in md.entry_points(group=ENTRY_POINT_GROUP):
        dist, version = _dist_of(ep)
        if ep.name in origin or pm.get_plugin(ep.name) is not None:
            if origin.get(ep.name, (None,))[0] == dist:
                continue  # the same distribution seen twice on sys.path
            raise RegistryError(f"two plugins are named '{ep.name}': from {origin[ep.name][0]} and "
                                f"{dist}; uninstall one of them")
        try:
            module = ep.load()
        except Exception as err:  # noqa: BLE001 - a broken plugin must name itself, not stop emgan
            reason = f"{type(err).__name__}: {err}".splitlines()[0]
            if broken is not None:
                broken[ep.name] = (dist, version, reason)
            continue
        _register(pm, module, ep.name, dist)
        origin[ep.name] = (dist, version)
    for name, module, dist, version in extra_plugins:
        _register(pm, module, name, dist)
        origin[name] = (dist, version)
    return pm, origin


def _hook_results(pm: pluggy.PluginManager, hook: str):
    """(plugin name, records) for every implementation of ``hook`` registered with pluggy (validated
    against its hookspec), in registration order, so that each record keeps its provenance."""
    for impl in getattr(pm.hook, hook).get_hookimpls():
        yield impl.plugin_name, impl.function() or []


def collect(pm: pluggy.PluginManager, origin: dict, broken: dict | None = None) -> Registry:
    """Call every hook of every plugin and fill a Registry, checking for conflicts."""
    reg = Registry(plugins=dict(origin), broken=dict(broken or {}))
    for kind, hook in _HOOK_OF_KIND.items():
        for plugin_name, records in _hook_results(pm, hook):
            dist, version = origin.get(plugin_name, ("unknown", ""))
            for comp in records:
                reg.add(kind, comp, plugin_name, dist, version)
    for plugin_name, records in _hook_results(pm, "emgan_recipes"):
        reg.recipe_dirs += [(Path(rd.path), plugin_name) for rd in records]
    for plugin_name, records in _hook_results(pm, "emgan_commands"):
        for cmd in records:
            if cmd.name in reg.commands:
                other = reg.commands[cmd.name][1]
                raise RegistryError(f"command '{cmd.name}' is registered twice: by plugin "
                                    f"'{other}' ({origin[other][0]}) and by '{plugin_name}' "
                                    f"({origin[plugin_name][0]})")
            reg.commands[cmd.name] = (cmd, plugin_name)
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
