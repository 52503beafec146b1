"""The pluggy registry: built-ins registered like plugins, loud conflicts, helpful unknown names."""

import types

import pytest

from emgan_core import Component, RegistryError, hookimpl
from emgan_core.registry import collect, get_registry, plugin_manager


def _plugin(name: str, components):
    mod = types.ModuleType(name)

    @hookimpl
    def emgan_generators():
        return components

    mod.emgan_generators = emgan_generators
    return mod


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


def test_same_name_from_two_distributions_names_both():
    pm, origin = plugin_manager([
        ("alpha", _plugin("alpha", [Component("twin", Net, "one")]), "emgan-plugin-alpha", "1.0"),
        ("beta", _plugin("beta", [Component("twin", Net, "two")]), "emgan-plugin-beta", "2.3"),
    ])
    with pytest.raises(RegistryError) as err:
        collect(pm, origin)
    msg = str(err.value)
    assert "generator/twin" in msg and "emgan-plugin-alpha 1.0" in msg and "emgan-plugin-beta 2.3" in msg


def test_plugin_cannot_shadow_a_core_component():
    pm, origin = plugin_manager([("gamma", types.SimpleNamespace(
        emgan_simulators=hookimpl(lambda: [Component("gaussian", Net, "x")])), "emgan-plugin-gamma", "0.1")])
    with pytest.raises(RegistryError, match="emgan-core .* emgan-plugin-gamma"):
        collect(pm, origin)


def test_unknown_name_lists_close_matches():
    reg = get_registry(refresh=True)
    with pytest.raises(RegistryError) as err:
        reg.get("simulator", "gausian")
    assert "did you mean 'gaussian'" in str(err.value) and "emgan plugins" in str(err.value)


def test_bad_names_and_records_are_refused():
    pm, origin = plugin_manager([("delta", _plugin("delta", [Component("Bad_Name", Net, "x")]),
                                  "emgan-plugin-delta", "0.1")])
    with pytest.raises(RegistryError, match="lower-case"):
        collect(pm, origin)
    pm, origin = plugin_manager([("eps", _plugin("eps", [("toy", Net)]), "emgan-plugin-eps", "0.1")])
    with pytest.raises(RegistryError, match="Component records"):
        collect(pm, origin)


def test_a_misspelt_hook_is_an_error_with_a_close_match():
    mod = types.ModuleType("typo")
    mod.emgan_generator = hookimpl(lambda: [Component("toy", Net, "x")])
    with pytest.raises(RegistryError) as err:
        plugin_manager([("typo", mod, "emgan-plugin-typo", "0.1")])
    assert "plugin 'typo' from distribution emgan-plugin-typo implements unknown hook 'emgan_generator'" in str(err.value)
    assert "did you mean 'emgan_generators'" in str(err.value)


def test_command_and_recipe_name_conflicts_name_both_plugins(tmp_path):
    from emgan_core import EmganError
    from emgan_core.recipes import shipped_recipes
    from emgan_core.registry import Command, RecipeDir

    def with_command(name):
        mod = types.ModuleType(name)
        mod.emgan_commands = hookimpl(lambda: [Command("twin", lambda p: None, "x")])
        return mod

    pm, origin = plugin_manager([("one", with_command("one"), "emgan-plugin-one", "1"),
                                 ("two", with_command("two"), "emgan-plugin-two", "1")])
    with pytest.raises(RegistryError, match="command 'twin' is registered twice: by plugin 'one' "
                                            r"\(emgan-plugin-one\) and by 'two' \(emgan-plugin-two\)"):
        collect(pm, origin)

    def with_recipes(name):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "same.yaml").write_text("description: x\n")
        mod = types.ModuleType(name)
        mod.emgan_recipes = hookimpl(lambda: [RecipeDir(folder)])
        return mod

    pm, origin = plugin_manager([("three", with_recipes("three"), "emgan-plugin-three", "1"),
                                 ("four", with_recipes("four"), "emgan-plugin-four", "1")])
    with pytest.raises(EmganError, match="recipe 'same' is shipped twice: by plugin 'three' and by 'four'"):
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
        assert "plugins that failed to load: broken" in reg.unknown_message("simulator", "nope")
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
                                            r"generate \(emgan-core 0.2.0 API\)"):
        reg.build("task", "old-task")
