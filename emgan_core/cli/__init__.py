"""The ``emgan`` command line; :class:`Action` and :func:`configure_actions` declare a plugin
command's actions (one record each), ``parse_key_values`` and ``build_checked`` turn ``key=value``
words into a checked component, ``add_simulator_args`` / ``simulator_from`` a recipe's simulator
with overrides."""

from .actions import Action, configure_actions
from .commands import add_simulator_args, build_checked, parse_key_values, simulator_from

__all__ = ["Action", "add_simulator_args", "build_checked", "configure_actions", "parse_key_values",
           "simulator_from"]
