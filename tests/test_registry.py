"""The pluggy registry: built-ins registered like plugins, a broken plugin breaks only itself (with a
one-line reason that says which side to rename), helpful unknown names."""

import types

import pytest

from emgan_core import Component, RegistryError, __version__, hookimpl
from emgan_core.registry import collect, get_registry, plugin_manager

CORE = f"emgan-core {__version__}"


def _plugin(name: str, components, critics=()):
    """A plugin module with ``emgan_generators`` (and ``emgan_critics`` when ``critics`` are given)."""
    mod = types.ModuleType(name)

    @hookimpl
    def emgan_generators():
        return components

    mod.emgan_generators = emgan_generators
    if critics:
        mod.emgan_critics = hookimpl(lambda: list(critics))
    return mod


def _registry(*plugins):
    """The registry of the installed plugins plus ``plugins`` (name, module, dist, version)."""
    pm, origin = plugin_manager(list(plugins))
    return collect(pm, origin)


def _assert_left_out(reg, plugin, dist, version, reason, *keys):
    """``plugin`` is broken with exactly ``reason`` and none of ``keys`` (kind/name) is registered."""
    assert reg.broken[plugin] == (dist, version, reason)
    assert plugin not in reg.plugins and "uninstall" not in reason
    assert not [k for k in keys if tuple(k.split("/")) in reg.entries]
    assert reg.get("simulator", "gaussian").plugin == "core"


class Net:
    def __init__(self, channels: int = 4):
        self.channels = channels


def test_core_components_come_through_the_hooks():
    reg = get_registry(refresh=True)
    assert reg.get("simulator", "gaussian").plugin == "core"
    assert reg.get("simulator", "gaussian").distribution == "emgan-core"
    for key in ["loss/bce", "loss/wasserstein", "loss/smooth-l1", "metric/fsc", "metric/ssim", "metric/thresholded-pcc", "metric/chimerax-correlation"]:
        kind, name = key.split("/")
        assert reg.get(kind, name).key == key


def test_same_name_from_two_distributions_breaks_the_later_plugin_only():
    """The later plugin by name is left out whole, whatever the install order; the earlier one works."""
    alpha = ("alpha", _plugin("alpha", [Component("twin", Net, "one")]), "emgan-plugin-alpha", "1.0")
    beta = ("beta", _plugin("beta", [Component("only-beta", Net, "x"), Component("twin", Net, "two")]),
            "emgan-plugin-beta", "2.3")
    for plugins in ([alpha, beta], [beta, alpha]):
        reg = _registry(*plugins)
        _assert_left_out(reg, "beta", "emgan-plugin-beta", "2.3",
                         "generator/twin is already registered by plugin 'alpha' (emgan-plugin-alpha 1.0): "
                         "rename it in plugin 'beta' (emgan-plugin-beta 2.3)", "generator/only-beta")
        assert reg.get("generator", "twin").component.summary == "one"
        assert reg.plugins["alpha"] == ("emgan-plugin-alpha", "1.0")
        with pytest.raises(RegistryError, match=r"unknown generator 'only-beta'.*"
                                                r"plugins that failed to load: beta\b"):
            reg.get("generator", "only-beta")


def test_plugin_cannot_shadow_a_core_component():
    gamma = types.SimpleNamespace(emgan_simulators=hookimpl(lambda: [Component("gaussian", Net, "x")]),
                                  emgan_generators=hookimpl(lambda: [Component("gamma-net", Net, "x")]))
    reg = _registry(("gamma", gamma, "emgan-plugin-gamma", "0.1"))
    _assert_left_out(reg, "gamma", "emgan-plugin-gamma", "0.1",
                     f"simulator/gaussian is a core component ({CORE}): rename it in plugin 'gamma' "
                     "(emgan-plugin-gamma 0.1)", "generator/gamma-net")
    assert reg.get("simulator", "gaussian").component.factory is not Net


def test_two_plugins_of_one_name_break_the_later_distribution(monkeypatch):
    first = ("alpha", _plugin("a", [Component("from-first", Net, "x")]), "emgan-plugin-alpha", "1.0")
    second = ("alpha", _plugin("b", [Component("from-second", Net, "x")]), "emgan-plugin-zeta", "3.0")
    core = ("core", _plugin("c", [Component("from-fake-core", Net, "x")]), "emgan-plugin-core", "0.1")
    reg = _registry(second, core, first)
    assert reg.plugins["alpha"] == ("emgan-plugin-alpha", "1.0") and reg.get("generator", "from-first")
    assert reg.plugins["core"] == ("emgan-core", __version__)
    assert reg.broken["alpha"] == ("emgan-plugin-zeta", "3.0", "plugin name 'alpha' is already used by "
                                   "emgan-plugin-alpha 1.0: rename the entry point in emgan-plugin-zeta 3.0")
    assert reg.broken["core"] == ("emgan-plugin-core", "0.1", f"plugin name 'core' is already used by "
                                  f"{CORE}: rename the entry point in emgan-plugin-core 0.1")
    assert ("generator", "from-second") not in reg.entries and ("generator", "from-fake-core") not in reg.entries


def test_unknown_name_lists_close_matches():
    reg = get_registry(refresh=True)
    with pytest.raises(RegistryError) as err:
        reg.get("simulator", "gausian")
    assert "did you mean 'gaussian'" in str(err.value) and "emgan plugins" in str(err.value)


def test_bad_names_and_records_break_their_plugin_only():
    reg = _registry(
        ("delta", _plugin("delta", [Component("Bad_Name", Net, "x")], [Component("delta-critic", Net, "x")]),
         "emgan-plugin-delta", "0.1"),
        ("eps", _plugin("eps", [("toy", 1)], [Component("eps-critic", Net, "x")]), "emgan-plugin-eps", "0.1"),
        ("zeta", _plugin("zeta", [Component("zeta-net", Net, "x")]), "emgan-plugin-zeta", "0.1"),
        ("omega", _plugin("omega", [Component("omega-net", Net, "x")] * 2), "emgan-plugin-omega", "0.1"))
    _assert_left_out(reg, "omega", "emgan-plugin-omega", "0.1",
                     "generator/omega-net is returned twice by plugin 'omega' (emgan-plugin-omega 0.1)",
                     "generator/omega-net")
    _assert_left_out(reg, "delta", "emgan-plugin-delta", "0.1",
                     "generator/Bad_Name: names must be lower-case words joined by dashes", "critic/delta-critic")
    _assert_left_out(reg, "eps", "emgan-plugin-eps", "0.1",
                     "emgan_generators returned ('toy', 1); expected a list of emgan_core.Component records",
                     "critic/eps-critic")
    assert reg.get("generator", "zeta-net").plugin == "zeta"


def test_a_misspelt_hook_breaks_its_plugin_with_a_close_match():
    mod = types.ModuleType("typo")
    mod.emgan_generator = hookimpl(lambda: [Component("toy", Net, "x")])
    mod.emgan_critics = hookimpl(lambda: [Component("typo-critic", Net, "x")])
    broken: dict = {}
    pm, origin = plugin_manager([("typo", mod, "emgan-plugin-typo", "0.1")], broken=broken)
    assert "typo" not in origin and pm.get_plugin("typo") is None
    reason = "unknown hook 'emgan_generator'; did you mean 'emgan_generators'?"
    assert broken["typo"] == ("emgan-plugin-typo", "0.1", reason)
    _assert_left_out(collect(pm, origin), "typo", "emgan-plugin-typo", "0.1", reason,
                     "generator/toy", "critic/typo-critic")


def test_an_unmarked_hook_function_breaks_its_plugin():
    """pluggy skips a hook-named function without @hookimpl silently; emgan says so."""
    mod = types.ModuleType("bare")
    mod.emgan_generators = lambda: [Component("bare-net", Net, "x")]
    mod.emgan_critics = hookimpl(lambda: [Component("bare-critic", Net, "x")])
    reg = _registry(("bare", mod, "emgan-plugin-bare", "0.1"))
    _assert_left_out(reg, "bare", "emgan-plugin-bare", "0.1", "function emgan_generators is not marked "
                     "@emgan_core.hookimpl: pluggy would never call it", "generator/bare-net", "critic/bare-critic")


def test_a_hook_that_raises_breaks_its_plugin_only():
    def fails():
        raise RuntimeError("no weights here\nsecond line")

    mod = types.SimpleNamespace(emgan_generators=hookimpl(fails),
                                emgan_critics=hookimpl(lambda: [Component("raiser-critic", Net, "x")]))
    reg = _registry(("raiser", mod, "emgan-plugin-raiser", "0.1"),
                    ("zeta", _plugin("zeta", [Component("zeta-net", Net, "x")]), "emgan-plugin-zeta", "0.1"))
    _assert_left_out(reg, "raiser", "emgan-plugin-raiser", "0.1",
                     "emgan_generators() raised RuntimeError: no weights here; second line", "critic/raiser-critic")
    assert reg.get("generator", "zeta-net").plugin == "zeta"


def test_command_and_recipe_name_conflicts_name_both_plugins(tmp_path):
    from emgan_core import EmganError
    from emgan_core.recipes import shipped_recipes
    from emgan_core.registry import Command, RecipeDir

    def with_command(name, command="twin"):
        mod = types.ModuleType(name)
        mod.emgan_commands = hookimpl(lambda: [Command(command, lambda p: None, "x")])
        mod.emgan_generators = hookimpl(lambda: [Component(f"{name}-net", Net, "x")])
        return mod

    reg = _registry(("two", with_command("two"), "emgan-plugin-two", "1"),
                    ("one", with_command("one"), "emgan-plugin-one", "1"),
                    ("three", with_command("three", "run"), "emgan-plugin-three", "1"))
    _assert_left_out(reg, "two", "emgan-plugin-two", "1", "command 'twin' is already registered by plugin 'one' "
                     "(emgan-plugin-one 1): rename it in plugin 'two' (emgan-plugin-two 1)", "generator/two-net")
    _assert_left_out(reg, "three", "emgan-plugin-three", "1", f"command 'run' is a core command ({CORE}): "
                     "rename it in plugin 'three' (emgan-plugin-three 1)", "generator/three-net")
    assert reg.commands["twin"][1] == "one" and "run" not in reg.commands and reg.get("generator", "one-net")

    def with_recipes(name):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "same.yaml").write_text("description: x\n")
        mod = types.ModuleType(name)
        mod.emgan_recipes = hookimpl(lambda: [RecipeDir(folder)])
        return mod

    pm, origin = plugin_manager([("three", with_recipes("three"), "emgan-plugin-three", "1"),
                                 ("four", with_recipes("four"), "emgan-plugin-four", "1")])
    with pytest.raises(EmganError, match="recipe 'same' is shipped twice: by plugin 'four' and by 'three'"):
        shipped_recipes(collect(pm, origin))


def test_a_plugin_that_fails_to_import_is_reported_and_the_others_work(tmp_path, monkeypatch):
    """A distribution whose entry point cannot be imported: one warning line naming it, the other
    plugins keep working, and `emgan plugins` lists it as broken."""
    import os
    import subprocess
    import sys

    info = tmp_path / "emgan_plugin_broken-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emgan-plugin-broken\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[emgan]\nbroken = emgan_broken_missing.plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        reg = get_registry(refresh=True)
        dist, version, reason = reg.broken["broken"]
        assert (dist, version) == ("emgan-plugin-broken", "0.1") and reason.startswith("ModuleNotFoundError")
        assert reg.get("simulator", "gaussian").plugin == "core"
        assert ("plugins that failed to load: broken (ModuleNotFoundError: No module named "
                "'emgan_broken_missing')") in reg.unknown_message("simulator", "nope")
    finally:
        monkeypatch.undo()
        get_registry(refresh=True)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "emgan_core.cli.main", "plugins"], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    warnings = [ln for ln in proc.stderr.splitlines() if ln.startswith("emgan: warning")]
    assert len(warnings) == 1 and "plugin 'broken' from emgan-plugin-broken 0.1 failed to load" in warnings[0]
    assert "broken  (emgan-plugin-broken 0.1)  BROKEN: ModuleNotFoundError" in proc.stdout
    assert "simulator/gaussian" in proc.stdout


def test_a_plugin_clashing_with_the_core_leaves_the_cli_working(monkeypatch, capsys):
    """`emgan --help` and `emgan plugins` exit 0, warn once about the plugin and list it as BROKEN."""
    import json

    from emgan_core import registry
    from emgan_core.cli.main import main

    gamma = types.SimpleNamespace(emgan_simulators=hookimpl(lambda: [Component("gaussian", Net, "x")]),
                                  emgan_commands=hookimpl(lambda: [registry.Command("gamma", "x:y", "x")]))
    monkeypatch.setattr(registry, "_REGISTRY", _registry(("gamma", gamma, "emgan-plugin-gamma", "0.1")))
    reason = f"simulator/gaussian is a core component ({CORE}): rename it in plugin 'gamma' (emgan-plugin-gamma 0.1)"
    warning = f"emgan: warning: plugin 'gamma' from emgan-plugin-gamma 0.1 failed to load ({reason})"

    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    out, err = capsys.readouterr()
    assert exit_.value.code == 0 and "plugins" in out and " gamma " not in out
    assert [line for line in err.splitlines() if "gamma" in line] == [warning + "; its components and "
                                                                      "commands are unavailable"]
    assert main(["plugins"]) == 0
    out, err = capsys.readouterr()
    assert f"gamma  (emgan-plugin-gamma 0.1)  BROKEN: {reason}" in out.splitlines()
    assert "  simulator/gaussian" in out and warning in err
    assert main(["plugins", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    gamma_line = {"name": "gamma", "distribution": "emgan-plugin-gamma", "version": "0.1", "error": reason}
    assert gamma_line in listed["broken"]
    assert "gamma" not in [p["name"] for p in listed["plugins"]]
    assert {"simulator/gaussian": "core"}.items() <= {c["key"]: c["plugin"] for c in listed["components"]}.items()


def test_components_named_by_import_path_load_on_first_use():
    lazy = Component("toy", "emgan_core.networks:UNetGenerator", "x")
    from emgan_core.networks import UNetGenerator

    assert lazy.factory is UNetGenerator
    broken = Component("gone", "emgan_core.networks:NoSuchNet", "x")
    with pytest.raises(RegistryError, match="component 'gone' cannot be loaded from 'emgan_core.networks:NoSuchNet'"):
        broken.factory
    with pytest.raises(ValueError, match="package.module:attribute"):
        Component("bad", "emgan_core.networks.UNetGenerator", "x")


def test_listing_plugins_and_commands_imports_no_torch():
    """`emgan --help`, `emgan plugins` and `emgan recipes` import no plugin code, torch or scipy."""
    import subprocess
    import sys

    for args in (["--help"], ["plugins"], ["recipes"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "emgan_core.cli.main", *args],
                              capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-500:]
        imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
        assert not {m for m in imported if m.split(".")[0] in {"torch", "scipy", "skimage", "torchio"}}, args
        assert "emgan_core.builtin" in imported and not any(m.endswith(".networks") for m in imported)


def test_a_task_written_for_the_old_api_is_one_line_naming_what_it_lacks():
    from emgan_core.errors import RegistryError
    from emgan_core.interfaces import Task
    from emgan_core.records import Component
    from emgan_core.registry import Registry

    class OldTask(Task):  # emgan-core 0.1: no generate(), losses took the batch alone
        def critic_losses(self, batch):
            return {}

        def generator_losses(self, batch):
            return {}

        def infer(self, source):
            return None

    reg = Registry()
    reg.add("task", Component("old-task", OldTask, "old"), "old", "emgan-plugin-old", "0.1.0")
    with pytest.raises(RegistryError, match=r"task/old-task from emgan-plugin-old 0.1.0 does not implement "
                                            r"generate \(emgan-core 0.3.0 API\)"):
        reg.build("task", "old-task")
