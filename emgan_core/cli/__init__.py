"""The ``emgan`` command line; ``add_actions`` / ``add_action`` build a plugin command's actions."""

from .commands import add_action, add_actions

__all__ = ["add_action", "add_actions"]
