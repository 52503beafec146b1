"""The ``emgan`` command line; ``add_actions`` / ``add_action`` build a plugin command's actions,
``parse_key_values`` and ``build_checked`` turn ``key=value`` words into a checked component."""

from .commands import add_action, add_actions, build_checked, parse_key_values

__all__ = ["add_action", "add_actions", "build_checked", "parse_key_values"]
