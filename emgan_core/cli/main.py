"""``emgan`` entry point: builds the parser from the core commands and the plugins' commands.

User errors print one line per problem and exit with status 2 (a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
import warnings
from contextlib import contextmanager

from ..errors import EmganError
from ..io.atomic import output_policy
from . import commands


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line, as every other error (the usage is one --help away);
    subcommand parsers are of this class too."""

    def error(self, message: str):
        where = "" if self.prog == "emgan" else f"{self.prog.removeprefix('emgan ')}: "
        self.exit(2, f"emgan: error: {where}{_printable(message)} (`{self.prog} --help` shows the usage)\n")


def build_parser(registry=None, command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; a plugin command's own arguments are added only for ``command`` (the one
    being run), so that listing commands imports no plugin code."""
    parser = _Parser(
        prog="emgan",
        description="GAN methods of cryo-EM: simulate, train, infer, evaluate.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  emgan simulate gaussian model.pdb -o sim.mrc resolution=2.0 voxel_size=1.0",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace existing output files (never one of the command's own inputs); "
                             "accepted anywhere on the line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    commands.add_core_commands(sub)
    if registry is not None:
        for name, (cmd, plugin) in sorted(registry.commands.items()):
            p = sub.add_parser(name, help=f"{cmd.summary} [{plugin}]", description=cmd.summary,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
            if name == command:
                cmd.configurator()(p)
    return parser


def _printable(line: str) -> str:
    """``line`` with control and line-separator characters (from a user's file name or value)
    written as escapes, so that one problem stays one line on any terminal."""
    import unicodedata

    return "".join(repr(c)[1:-1] if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in line)


@contextmanager
def _one_line_warnings(debug: bool):
    """Warnings as ``emgan: warning: message`` lines, without Python's source line (which names our
    code, not the user's input); as Python shows them with --debug."""
    shown = warnings.formatwarning
    if not debug:
        warnings.formatwarning = lambda message, *_, **__: f"emgan: warning: {_printable(str(message))}\n"
    try:
        yield
    finally:
        warnings.formatwarning = shown


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug, overwrite = "--debug" in argv, "--overwrite" in argv
    argv = [a for a in argv if a not in ("--debug", "--overwrite")]  # accepted anywhere on the line
    try:
        from ..registry import get_registry

        registry = get_registry()
        for plugin, (dist, version, reason) in sorted(registry.broken.items()):
            print(f"emgan: warning: plugin '{plugin}' from {dist} {version} failed to load ({reason}); "
                  "its components and commands are unavailable", file=sys.stderr)
        command = next((a for a in argv if not a.startswith("-")), None)
        parser = build_parser(registry, command)
        args, extra = parser.parse_known_args(argv)
        stray = [a for a in extra if a.startswith("-") or "=" not in a or not hasattr(args, "params")]
        if stray:
            parser.error(f"unrecognized arguments: {' '.join(stray)}")
        if extra:
            args.params = list(args.params or []) + extra
        with output_policy(overwrite), _one_line_warnings(debug):
            return int(args.func(args) or 0)
    except EmganError as err:
        if debug:
            traceback.print_exc()
        for line in err.line().split("\n"):  # problems are separated by newlines only
            print(f"emgan: error: {_printable(line)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emgan: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `emgan plugins | head`: the reader left; nothing to report
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python would fail again flushing stdout at exit
        return 141


if __name__ == "__main__":
    sys.exit(main())
