"""The core and every plugin package import without cycles (package ``__init__`` modules included),
plugins import the core only through its public API, and the core has no long functions without a
reason written next to them."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = [ROOT / "emgan_core"] + sorted(p for p in (ROOT / "plugins").glob("*/emgan_*") if p.is_dir()
                                          and (p / "__init__.py").exists())
#: every file of a plugin: its package, its tests, and the third-party example plugin
PLUGIN_FILES = sorted(p for p in [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "tests" / "example_plugin").rglob("*.py")]
                      if not {"build", "__pycache__"} & set(p.parts) and ".egg-info" not in str(p))
#: what a plugin may import from emgan-core
PUBLIC = {"emgan_core.api", "emgan_core.testing"}


def _modules(package: Path) -> dict[str, Path]:
    mods = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return mods


def _imported(name: str, path: Path) -> set[str]:
    """Dotted names ``name`` (a module at ``path``) imports anywhere in its body, functions included:
    each module, and each ``module.attribute`` of a ``from module import attribute``."""
    here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(here[:len(here) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else (node.module or "")
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def _packages_of(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def _imports(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """Modules of the package whose code runs when ``name`` imports what it imports: the modules
    named, and the ``__init__`` of every package above them that is not already above ``name``
    (importing ``a.b.c`` runs ``a/b/__init__.py`` first)."""
    targets = {m for m in _imported(name, path) if m in mods}
    runs = set(targets)
    for target in targets:
        runs |= {p for p in _packages_of(target) if p in mods} - _packages_of(name)
    return runs - {name} - _packages_of(name)


def import_cycles(package: Path) -> list[list[str]]:
    """Strongly connected groups of more than one module in the package's import graph."""
    mods = _modules(package)
    graph = {m: _imports(m, p, mods) for m, p in mods.items()}
    index, low, stack, cycles = {}, {}, [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return cycles


def test_the_cycle_finder_finds_a_cycle(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def f():\n    from .a import g\n")
    (pkg / "c.py").write_text("from .a import b\n")
    assert import_cycles(pkg) == [["pkg.a", "pkg.b"]]


def test_the_cycle_finder_follows_package_init_edges(tmp_path):
    """``a`` imports ``sub.light`` only, but that runs ``sub/__init__.py``, which imports ``sub.heavy``,
    which imports ``a``: a cycle although no module names ``a``'s importer directly."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from .sub.light import x\n")
    (pkg / "sub" / "__init__.py").write_text("from .heavy import y\n")
    (pkg / "sub" / "light.py").write_text("x = 1\n")
    (pkg / "sub" / "heavy.py").write_text("from ..a import f\n")
    assert import_cycles(pkg) == [["pkg.a", "pkg.sub", "pkg.sub.heavy"]]
    (pkg / "sub" / "__init__.py").write_text("")
    assert import_cycles(pkg) == []


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_no_import_cycles(package):
    assert import_cycles(package) == []


_CORE_STRING = re.compile(r"\bemgan_core(\.[A-Za-z_]\w*)+:\w+")


def private_imports(files) -> list[str]:
    """``path:line name`` for every import of emgan-core outside :data:`PUBLIC` in ``files``, and
    every ``"emgan_core.x:y"`` string (a registry reference, which is an import by another name)."""
    found = []
    for path in files:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _CORE_STRING.search(node.value):
                names = [_CORE_STRING.search(node.value).group(0).split(":")[0]]
            found += [f"{path}:{node.lineno} {n}" for n in names
                      if (n == "emgan_core" or n.startswith("emgan_core.")) and n not in PUBLIC]
    return found


def test_plugins_import_only_the_public_api():
    assert PLUGIN_FILES and private_imports(PLUGIN_FILES) == []


def test_a_private_import_in_a_plugin_is_caught(tmp_path):
    plugin = tmp_path / "plugin.py"
    plugin.write_text("from emgan_core.api import hookimpl\n"
                      "from emgan_core.metrics._common import correlate\n"
                      "import emgan_core.training.trainer as trainer\n"
                      "WRAP = 'emgan_core.metrics:metric_factory'\n"
                      "def f():\n    from emgan_core import Volume\n")
    assert [f.split(" ", 1)[1] for f in private_imports([plugin])] == [
        "emgan_core.metrics._common", "emgan_core.training.trainer", "emgan_core.metrics", "emgan_core"]


def test_every_public_name_resolves():
    import emgan_core.api as api

    assert len(api.__all__) >= 90
    assert all(getattr(api, name) is not None for name in api.__all__)
    with pytest.raises(AttributeError, match="not part of the public API"):
        api.Registry  # noqa: B018


def test_core_functions_are_short_or_say_why():
    """A core function over 60 lines carries a comment ``# long: <reason>`` on its first lines."""
    long = []
    for path in (ROOT / "emgan_core").rglob("*.py"):
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                head = "\n".join(lines[node.lineno - 1:node.lineno + 3])
                if size > 60 and "# long:" not in head:
                    long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({size} lines)")
    assert long == []
