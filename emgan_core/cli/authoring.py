"""Commands for plugin and recipe authors: ``emgan new-plugin`` (a plugin package from templates),
``emgan schema`` (a JSON Schema of recipes, for editors) and ``emgan plugins show KIND/NAME`` (a
component's parameters with their types, defaults and limits).

Only light modules are imported at the top: building the parser imports no torch.
"""

from __future__ import annotations

import difflib
import json
import sys

from ..errors import EmganError
from ..scaffold import KINDS
from .actions import action_parser


def add_authoring_commands(sub) -> None:
    p = action_parser(sub, "new-plugin", "write a new plugin package: a task, a generator, a quickstart recipe "
                      "that needs no data, tests and a README", "emgan new-plugin mymethod --kind paired -o .")
    p.add_argument("name", help="plugin name: lower-case letters and digits, words joined by '_' (the package "
                   "is emgan_NAME, the folder emgan-plugin-NAME)")
    p.add_argument("--kind", choices=tuple(KINDS), default="paired",
                   help="; ".join(f"{kind}: {text}" for kind, (text, _) in KINDS.items()) + " (default: paired)")
    p.add_argument("-o", "--output", default=".", metavar="FOLDER",
                   help="existing folder to write emgan-plugin-NAME/ in (default: the current folder)")
    p.set_defaults(func=cmd_new_plugin)

    p = action_parser(sub, "schema", "write the JSON Schema of recipes (the installed components and their "
                      "parameters), for an editor's completion and checks", "emgan schema -o emgan-recipe.schema.json")
    p.add_argument("-o", "--output", metavar="FILE", help="file to write (atomically; default: print it)")
    p.set_defaults(func=cmd_schema)


def cmd_new_plugin(args) -> int:
    from ..registry import get_registry
    from ..scaffold import substitutions, write_plugin

    target, files = write_plugin(args.name, args.kind, args.output, get_registry())
    values = substitutions(args.name, args.kind)
    print(f"{target}: {args.kind} plugin '{args.name}', {len(files)} files")
    for name in files:
        print(f"  {name}")
    print("next:\n"
          f"  pip install -e {target}\n"
          f"  emgan run {values['name']}-quickstart -o runs/{values['name']}-quickstart\n"
          f"  pytest {target / 'tests'}")
    return 0


def cmd_schema(args) -> int:
    from ..io.atomic import atomic_output, check_output
    from ..schema import recipe_schema

    if args.output:
        check_output(args.output)
    schema = recipe_schema(warn=lambda line: print(f"emgan: warning: {line}", file=sys.stderr))
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    if not args.output:
        sys.stdout.write(text)
        return 0
    with atomic_output(args.output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    count = sum(1 for key in schema["$defs"] if ":" in key)
    print(f"{args.output}: JSON Schema ({schema['$schema']}) of recipes, {count} components", file=sys.stderr)
    return 0


# -- plugins show ------------------------------------------------------------------------------------

def find_component(registry, text: str):
    """The registry entry of ``KIND/NAME`` (or of ``NAME`` when one kind has it); an unknown one is
    one line with the closest names."""
    kind, slash, name = text.partition("/")
    if slash:
        entry = registry.entries.get((kind, name))
        if entry is not None:
            return entry
    else:
        hits = sorted(e.key for e in registry.entries.values() if e.component.name == text)
        if len(hits) == 1:
            return registry.entries[tuple(hits[0].split("/", 1))]
        if hits:
            raise EmganError(f"several components have this name: give one of {', '.join(hits)}", text)
    keys = sorted(e.key for e in registry.entries.values())
    close = difflib.get_close_matches(text, keys, n=3, cutoff=0.6)
    if not close:  # a misspelt name alone, or under another kind
        close = [e.key for e in registry.entries.values()
                 if e.component.name in difflib.get_close_matches(name if slash else text, registry.names(e.kind),
                                                                   n=3, cutoff=0.6)][:3]
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    broken = f"; plugins that failed to load: {registry.broken_summary()}" if registry.broken else ""
    raise EmganError(f"no such component{hint}; `emgan plugins` lists them{broken}", text)


def _value_text(value) -> str:
    """A default as a recipe writes it (``null``, ``true``, ``'batch'``, ``[0.5, 0.143]``)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    return repr(value)


def _factory_path(component, factory) -> str:
    if isinstance(component.target, str):
        return component.target
    return f"{getattr(factory, '__module__', '?')}:{getattr(factory, '__qualname__', repr(factory))}"


def cmd_show_component(args) -> int:
    """``emgan plugins show KIND/NAME [--json]``."""
    from ..registry import get_registry
    from ..schema import component_parameters

    if not args.component:
        raise EmganError("plugins show needs a component as KIND/NAME (e.g. generator/unet); see `emgan plugins`")
    entry = find_component(get_registry(), args.component)
    factory = entry.component.factory
    params = component_parameters(factory)
    rows = [{"name": p.name, "type": p.type_text, "required": p.required,
             "default": None if p.required else p.default, "limits": p.limits_text, "description": p.doc}
            for p in params]
    if args.json:
        json.dump({"kind": entry.kind, "name": entry.component.name, "summary": entry.component.summary,
                   "plugin": entry.plugin, "distribution": entry.distribution, "version": entry.version,
                   "factory": _factory_path(entry.component, factory), "parameters": rows},
                  sys.stdout, indent=2, default=repr, ensure_ascii=False)
        print()
        return 0
    print(f"{entry.key}  ({entry.plugin}: {entry.distribution} {entry.version})")
    print(f"  {entry.component.summary}")
    print(f"  factory: {_factory_path(entry.component, factory)}")
    if not rows:
        print("  parameters: none")
        return 0
    table = [("parameter", "type", "default", "limits", "")] + [
        (r["name"], r["type"], "(required)" if r["required"] else _value_text(r["default"]), r["limits"] or "-",
         r["description"]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    print()
    for row in table:
        print(("  " + "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths)) + "  " + row[4]).rstrip())
    return 0
