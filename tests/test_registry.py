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
