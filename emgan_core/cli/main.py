"""``emgan`` entry point: builds the parser from the core commands and the plugins' commands.

User errors print one line per problem and exit with status 2 (a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from ..errors import EmganError
from . import commands


def build_parser(registry=None, command: str | None = None) -> argparse.ArgumentParser:
    """The full parser; a plugin command's own arguments are added only for ``command`` (the one
    being run), so that listing commands imports no plugin code."""
    parser = argparse.ArgumentParser(
        prog="emgan",
        description="GAN methods of cryo-EM: simulate, train, infer, evaluate.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  emgan simulate gaussian model.pdb -o sim.mrc resolution=2.0 voxel_size=1.0",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
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
        return int(args.func(args) or 0)
    except EmganError as err:
        if debug:
            traceback.print_exc()
        for line in err.line().splitlines():
            print(f"emgan: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("emgan: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
