"""A plugin command's actions (``emgan NAME ACTION …``) declared as one :class:`Action` record each.

Imports only the standard library and ``emgan_core.errors``: a plugin's ``cli`` module builds its action list at import
without importing torch or numpy through the core.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import RegistryError


def action_parser(sub, name: str, help: str, example: str) -> argparse.ArgumentParser:
    """A subcommand parser with ``help`` as its description and ``example`` in its epilog (an
    example of several lines continues each line with two spaces)."""
    return sub.add_parser(name, help=help, description=help,
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          epilog=f"example:\n  {example}")


@dataclass(frozen=True)
class Action:
    """One action of a plugin command: ``emgan COMMAND name …``.

    ``help`` is its one-line description (in the command's list and its own ``--help``),
    ``example`` a full command line shown under it, ``run(args) -> int`` what it does (its return
    value is the exit status) and ``arguments(parser)``, if given, adds its arguments.
    """

    name: str
    help: str
    example: str
    run: Callable[[argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


def configure_actions(*actions: Action) -> Callable[[argparse.ArgumentParser], None]:
    """The ``configure(parser)`` of a command made of ``actions`` (for ``Command(name, configure,
    summary)``): a required ACTION argument, and per action its parser, arguments and ``run``.

    Two actions of one name are an error (a :class:`~emgan_core.errors.RegistryError` naming the
    command and the action) when the command is configured."""

    def configure(parser: argparse.ArgumentParser) -> None:
        command = parser.prog.split()[-1]
        seen = set()
        for action in actions:
            if action.name in seen:
                raise RegistryError(f"command '{command}' has two actions named '{action.name}'")
            seen.add(action.name)
        sub = parser.add_subparsers(dest="action", metavar="ACTION")
        sub.required = True
        for action in actions:
            p = action_parser(sub, action.name, action.help, action.example)
            if action.arguments is not None:
                action.arguments(p)
            p.set_defaults(func=action.run)

    configure.actions = actions
    return configure


def add_model_arguments(parser: argparse.ArgumentParser, default: str, what: str = "") -> None:
    """The trained model a generating command uses: ``--model NAME`` (a registered model, ``default``
    unless given; ``what`` says in a few words what it is) or ``--ckpt PATH`` (a checkpoint file or
    run directory of the user's own training), one or the other. :func:`trained_model` reads them."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--model", default=default, metavar="NAME",
                        help=f"trained model by name (default {default}{'; ' + what if what else ''}; "
                             "see `emgan models`)")
    source.add_argument("--ckpt", metavar="PATH",
                        help="checkpoint file or run directory of your own training, instead of --model")


def trained_model(args: argparse.Namespace) -> str:
    """What :func:`add_model_arguments` parsed: the checkpoint path if given, else the model name
    (both accepted wherever a checkpoint is loaded)."""
    return args.ckpt or args.model
