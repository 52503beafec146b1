"""The ``emgan`` command line; :class:`Action` and :func:`configure_actions` declare a plugin
command's actions (one record each), ``parse_key_values`` and ``build_checked`` turn ``key=value``
words into a checked component, ``add_simulator_args`` / ``simulator_from`` a recipe's simulator
with overrides, ``add_model_arguments`` / ``trained_model`` the ``--model NAME`` / ``--ckpt PATH``
of a generating command, ``overwrite_allowed`` whether the command may replace existing outputs
(``--overwrite``)."""

from .actions import Action, add_model_arguments, configure_actions, trained_model
from .commands import add_simulator_args, build_checked, overwrite_allowed, parse_key_values, simulator_from

__all__ = ["Action", "add_model_arguments", "add_simulator_args", "build_checked", "configure_actions",
           "overwrite_allowed", "parse_key_values", "simulator_from", "trained_model"]
