"""MkDocs hook: the API reference pages, generated at every build from ``emgan_core.api._AREAS``.

One page per area of the public API (``reference/AREA.md``, each name of the area documented from
its docstring as ``emgan_core.api.NAME``), an index (the stability promise, the table of names), the
hooks a plugin implements (``emgan_core.hookspecs``) and the public functions of
``emgan_core.testing``. A name added to ``_AREAS`` appears in the reference without an edit here;
``tests/test_docs.py`` checks that every name of ``emgan_core.api.__all__`` does.
"""

from __future__ import annotations

import re
import textwrap

from mkdocs.structure.files import File

FOLDER = "reference"

# emgan_core.testing: the fixtures, and the checks a plugin's test suite calls (the index names them)
FIXTURES = ("data_dir", "shared_dir", "emgan")
CHECKS = ("check_plugin", "check_network_contract")


def _areas() -> dict[str, dict[str, str]]:
    from emgan_core.api import _AREAS  # no torch: the names load lazily

    return _AREAS


def _slug(area: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", area.lower()).strip("-")


def _title(area: str) -> str:
    return "IO" if area == "io" else area[:1].upper() + area[1:]


def _area_page(area: str, names: dict[str, str]) -> str:
    imports = textwrap.fill(", ".join(names), width=96, initial_indent="    ", subsequent_indent="    ")
    lines = [f"# {_title(area)}", "",
             "```python",
             f"from emgan_core.api import (\n{imports},\n)" if len(names) > 4
             else f"from emgan_core.api import {', '.join(names)}",
             "```", ""]
    for name in names:
        lines += [f"::: emgan_core.api.{name}", ""]
    return "\n".join(lines)


def _index_page(areas: dict[str, dict[str, str]]) -> str:
    lines = ["# API reference", "",
             "::: emgan_core.api",
             "    options:",
             "      show_root_heading: false",
             "      show_root_toc_entry: false",
             "      members: false",
             "",
             "| area | names |", "|---|---|"]
    for area, names in areas.items():
        links = ", ".join(f"[`{name}`][emgan_core.api.{name}]" for name in names)
        lines.append(f"| [{area}]({_slug(area)}.md) | {links} |")
    lines += ["", "A plugin implements the [hooks](hooks.md) of `emgan_core.hookspecs`, each marked with "
              "[`hookimpl`][emgan_core.api.hookimpl].", "",
              "Test suites also use [`emgan_core.testing`](testing.md): the fixtures "
              + ", ".join(f"[`{name}`][emgan_core.testing.{name}]" for name in FIXTURES)
              + " and the checks " + ", ".join(f"[`{name}`][emgan_core.testing.{name}]" for name in CHECKS) + ".",
              ""]
    return "\n".join(lines)


def _hooks_page() -> str:
    return "\n".join(["# Hooks: `emgan_core.hookspecs`", "",
                      "::: emgan_core.hookspecs",
                      "    options:",
                      "      show_root_heading: false",
                      "      show_root_toc_entry: false",
                      "      filters: [\"^emgan_\"]",
                      ""])


def _testing_page() -> str:
    # every public function of the module: its fixtures and checks (not pytest's hooks, not constants)
    return "\n".join(["# Testing: `emgan_core.testing`", "",
                      "::: emgan_core.testing",
                      "    options:",
                      "      show_root_heading: false",
                      "      show_root_toc_entry: false",
                      "      filters: [\"!^_\", \"!^pytest_\", \"!^[A-Z][A-Z0-9_]*$\"]",
                      ""])


def pages() -> dict[str, str]:
    """``{path under docs/: Markdown}`` of the reference."""
    areas = _areas()
    out = {f"{FOLDER}/index.md": _index_page(areas)}
    out.update({f"{FOLDER}/{_slug(area)}.md": _area_page(area, names) for area, names in areas.items()})
    out[f"{FOLDER}/hooks.md"] = _hooks_page()
    out[f"{FOLDER}/testing.md"] = _testing_page()
    return out


def on_config(config, **kwargs):
    areas = _areas()
    section = [{"Overview": f"{FOLDER}/index.md"}, {"Hooks": f"{FOLDER}/hooks.md"}]
    section += [{_title(area): f"{FOLDER}/{_slug(area)}.md"} for area in areas]
    section.append({"Testing": f"{FOLDER}/testing.md"})
    nav = [entry for entry in (config.nav or []) if not (isinstance(entry, dict) and "API reference" in entry)]
    config.nav = [*nav, {"API reference": section}]
    return config


def on_files(files, config, **kwargs):
    for path, text in pages().items():
        files.append(File.generated(config, path, content=text))
    return files
