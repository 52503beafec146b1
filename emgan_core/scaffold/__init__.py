"""``emgan new-plugin``: a complete, installable plugin package written from the templates beside this
module (``templates/common`` for every kind, ``templates/KIND`` for the kind's task, recipe and tests).

Template files end in ``.tmpl`` and hold ``${key}`` placeholders (:class:`string.Template`); in their
paths ``PACKAGE`` stands for the package (``emgan_NAME``), ``TESTS`` for ``tests`` (a folder name that
packaging tools may leave out of a wheel) and ``NAME`` for the plugin's name. The package is written
into a temporary folder beside the target and renamed onto it when complete.
"""

from __future__ import annotations

import importlib.metadata as md
import importlib.util
import re
import string
from pathlib import Path

from ..errors import EmganError

TEMPLATES = Path(__file__).parent / "templates"

#: kind -> (what it makes, spatial dimensions)
KINDS = {
    "paired": ("a paired GAN method on 3D maps (degraded map to map)", 3),
    "images": ("a paired GAN method on 2D image stacks (noisy image to clean image)", 2),
}

#: a plugin name: lower-case letters and digits, words joined by single underscores (it names the
#: package emgan_NAME; its components and recipes take it with dashes)
_NAME = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

_KIND_TEXT = {
    "paired": "a paired map-to-map method (`task/${component}`, a subclass of emgan's `PairedTask` that "
              "makes its own training pairs through its `pair_loaders` hook) and a small 3D generator.",
    "images": "a 2D image-stack method (`task/${component}`, emgan's `PairedTask` on image stacks, making "
              "its own training pairs through its `pair_loaders` hook) and a small 2D generator.",
}
_INFER = {
    "paired": "emgan infer runs/${name}-quickstart your-map.mrc -o restored.mrc",
    "images": "emgan infer runs/${name}-quickstart your-images.mrcs -o restored.mrcs",
}


def check_name(name: str) -> str:
    """``name`` if it can name a plugin (a Python identifier part: ``[a-z][a-z0-9]*`` words joined by
    single underscores), else :class:`EmganError` in one line."""
    if not _NAME.match(name):
        raise EmganError("not a plugin name: use lower-case letters and digits, starting with a letter, words "
                         "joined by single underscores (it names the Python package emgan_NAME)", name)
    return name


def substitutions(name: str, kind: str) -> dict[str, str]:
    """The ``${key}`` values of the templates for plugin ``name`` of ``kind``."""
    from ..version import __version__

    summary, dims = KINDS[kind]
    component = name.replace("_", "-")
    values = {
        "name": name, "component": component, "package": f"emgan_{name}", "dist": f"emgan-plugin-{component}",
        "Class": "".join(word.capitalize() for word in name.split("_")), "kind": kind, "summary": summary,
        "spatial_dims": str(dims), "core_version": ".".join(__version__.split(".")[:2]),
        "generator_summary": f"small residual convolution stack, {dims}D by default ({name} plugin)",
    }
    values["title"] = values["Class"]
    values["kind_text"] = string.Template(_KIND_TEXT[kind]).substitute(values)
    values["infer_example"] = string.Template(_INFER[kind]).substitute(values)
    return values


def plugin_files(name: str, kind: str) -> dict[str, str]:
    """Relative path -> text of every file of the package ``emgan new-plugin NAME --kind KIND`` writes."""
    if kind not in KINDS:
        raise EmganError(f"unknown kind (kinds: {', '.join(KINDS)})", kind)
    values = substitutions(check_name(name), kind)
    files = {}
    for folder in (TEMPLATES / "common", TEMPLATES / kind):
        for template in sorted(folder.rglob("*.tmpl")):
            parts = [{"PACKAGE": values["package"], "TESTS": "tests"}.get(p) or p.replace("NAME", name)
                     for p in template.relative_to(folder).with_suffix("").parts]
            files["/".join(parts)] = string.Template(template.read_text(encoding="utf-8")).substitute(values)
    return files


def clash(name: str, registry) -> str | None:
    """Why plugin ``name`` cannot be installed beside what is installed here (one line), or None:
    its plugin, distribution, package, components or quickstart recipe name is taken."""
    values = substitutions(name, "paired")
    if name in registry.plugins or name in registry.broken:
        dist, version = (registry.plugins.get(name) or registry.broken[name][:2])
        return f"plugin '{name}' is installed already ({dist} {version}): choose another name"
    try:
        md.distribution(values["dist"])
        return f"distribution {values['dist']} is installed already: choose another name"
    except md.PackageNotFoundError:
        pass
    if importlib.util.find_spec(values["package"]) is not None:
        return f"a package {values['package']} is importable here already: choose another name"
    for kind in ("generator", "task"):
        entry = registry.entries.get((kind, values["component"]))
        if entry is not None:
            return (f"{entry.key} is registered already by plugin '{entry.plugin}' ({entry.distribution} "
                    f"{entry.version}): choose another name")
    from ..recipes import shipped_recipes

    recipe = f"{name}-quickstart"
    if recipe in shipped_recipes(registry):
        return f"recipe '{recipe}' is shipped already by plugin '{shipped_recipes(registry)[recipe][1]}'"
    return None


def write_plugin(name: str, kind: str, folder: str | Path, registry=None) -> tuple[Path, list[str]]:
    """Write plugin ``name`` of ``kind`` as ``FOLDER/emgan-plugin-NAME/`` (atomically: complete or not
    at all); returns its folder and its files. Refused in one line (:class:`EmganError`): a bad name,
    a missing folder, an existing target, a name taken by what is installed (``registry``)."""
    from ..io.atomic import atomic_output

    files = plugin_files(name, kind)
    if registry is not None and (reason := clash(name, registry)):
        raise EmganError(reason, name)
    folder = Path(folder)
    if not folder.is_dir():
        raise EmganError("folder does not exist (create it first, or give another -o)", str(folder))
    target = folder / substitutions(name, kind)["dist"]
    if target.exists() or target.is_symlink():
        raise EmganError("exists already: choose another name or folder (-o); nothing was written", str(target))
    with atomic_output(target, suffix="") as tmp:
        for relative, text in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return target, sorted(files)
