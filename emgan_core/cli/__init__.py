"""The ``emgan`` command line; ``add_actions`` / ``add_action`` build a plugin command's actions,
``parse_key_values`` and ``build_checked`` turn ``key=value`` words into a checked component, ``add_simulator_args`` / ``simulator_from`` a recipe's simulator with overrides."""

from .commands import add_action, add_actions, add_simulator_args, build_checked, parse_key_values, simulator_from

__all__ = ["add_action", "add_actions", "add_simulator_args", "build_checked", "parse_key_values", "simulator_from"]
