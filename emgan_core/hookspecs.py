"""The hooks a plugin implements. Each returns a list of records; emgan collects them all.

A plugin is a module with functions decorated by ``emgan_core.api.hookimpl`` and named like the
specs below, found through the entry-point group ``emgan``::

    [project.entry-points.emgan]
    myplugin = "myplugin.plugin"

emgan's own shared components are registered by :mod:`emgan_core.builtin` through these same
hooks. Names are lower-case and dash-separated. A plugin whose hooks are wrong (an unknown or
unmarked hook, a name another plugin or the core already has, a hook that raises) is marked broken
with a one-line reason in ``emgan plugins``, and none of its components is registered; every other
plugin keeps working.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("emgan")
hookimpl = pluggy.HookimplMarker("emgan")


@hookspec
def emgan_simulators():
    """Return ``list[Component]`` of :class:`~emgan_core.interfaces.Simulator` factories."""


@hookspec
def emgan_generators():
    """Return ``list[Component]`` of :class:`~emgan_core.interfaces.Generator` factories."""


@hookspec
def emgan_critics():
    """Return ``list[Component]`` of :class:`~emgan_core.interfaces.Critic` factories."""


@hookspec
def emgan_filters():
    """Return ``list[Component]`` of :class:`~emgan_core.filters.Filter` factories: classical
    processing a benchmark compares a trained model with (a low-pass, a Wiener filter…)."""


@hookspec
def emgan_classifiers():
    """Return ``list[Component]`` of :class:`~emgan_core.interfaces.Classifier` factories (class
    logits and embeddings: FID, Inception Score, PRDC, downstream accuracy)."""


@hookspec
def emgan_losses():
    """Return ``list[Component]`` of :class:`~emgan_core.interfaces.Loss` factories."""


@hookspec
def emgan_metrics():
    """Return ``list[Component]`` of metric factories (see :mod:`emgan_core.metrics`)."""


@hookspec
def emgan_tasks():
    """Return ``list[Component]`` of :class:`~emgan_core.interfaces.Task` factories."""


@hookspec
def emgan_recipes():
    """Return ``list[RecipeDir]``: folders of ``*.yaml`` recipes shipped as package data."""


@hookspec
def emgan_commands():
    """Return ``list[Command]``: extra ``emgan <name> …`` subcommands (e.g. ``struc2mapgan``)."""


@hookspec
def emgan_models():
    """Return ``list[Model]``: trained models with their files (shipped or fetched by URL and
    SHA-256) and model cards (``emgan models``)."""
