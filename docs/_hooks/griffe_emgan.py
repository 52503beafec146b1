"""Griffe extension for emgan's API reference.

* ``emgan_core.api`` loads its names lazily (PEP 562), so static analysis sees none of them: this
  extension gives the module one alias per name of ``emgan_core.api._AREAS``, pointing at the object
  it loads. ``::: emgan_core.api.Volume`` then documents ``Volume`` under the path plugins import it
  from, and ``[Volume][emgan_core.api.Volume]`` links to it.
* Docstrings use Sphinx roles (``:func:`emgan_core.io.read_map```, ``:class:`Volume```) that
  Markdown does not know: each becomes a link when the object it names (a full ``emgan_core`` path,
  or a name of the docstring's own module, or class for ``:meth:`` and ``:attr:``) is in the
  reference, and plain code otherwise.
"""

from __future__ import annotations

import re

from griffe import Alias, Extension, Module, Object

_ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|attr|data|exc|obj|const):`(~?)([\w.]+)(?:\(\))?`")


def _role(match: re.Match, obj: Object) -> str:
    role, short, target = match.groups()
    text = target.rsplit(".", 1)[-1] if short else target
    if not target.startswith("emgan_core."):
        scope = obj if obj.is_class else obj.parent
        base = scope.path if role in ("meth", "attr") and scope is not None and scope.is_class else obj.module.path
        target = f"{base}.{target}"
    # an optional cross-reference: a link when the target is documented, plain code otherwise
    return f'<autoref identifier="{target}" optional><code>{text}</code></autoref>'


class EmganApi(Extension):
    """Aliases for the lazily loaded names of ``emgan_core.api``; Sphinx roles to Markdown."""

    def on_module_members(self, *, mod: Module, **kwargs) -> None:
        if mod.path != "emgan_core.api":
            return
        from emgan_core.api import _AREAS  # imports no torch: the names themselves load lazily

        for area in _AREAS.values():
            for name, where in area.items():
                module, _, attribute = where.partition(":")
                mod.set_member(name, Alias(name, f"emgan_core.{module}.{attribute or name}", parent=mod))

    def on_object(self, *, obj: Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = _ROLE.sub(lambda match: _role(match, obj), obj.docstring.value)
