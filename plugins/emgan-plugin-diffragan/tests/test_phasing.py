"""Classical phase extension (emgan_diffragan.phasing) and the generator that feeds it to the U-Net:
on a synthetic weak-phase object the pattern's amplitudes with the low-res image recover the
object's high-resolution detail, and another object's pattern does not."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from emgan_diffragan import phasing as P
from emgan_diffragan.simulator import _resize_pattern

SIZE, CELL = 64, 70.0  # the quickstart's images: 1.09375 Å/pixel
PIXEL = CELL / SIZE


def blob_object(seed: int, atoms: int = 120, radius: float = 16.0) -> np.ndarray:
    """Projected potential (SIZE, SIZE) ≥ 0: Gaussian 'atoms' (σ 0.8 Å) in a disc of ``radius`` Å
    about a random point near the centre of the periodic cell."""
    rng = np.random.default_rng(seed)
    centre = CELL / 2 + rng.uniform(-5, 5, 2)
    r = radius * np.sqrt(rng.random(atoms))
    t = rng.uniform(0, 2 * np.pi, atoms)
    xy = centre + np.stack([r * np.cos(t), r * np.sin(t)], 1)
    grid = (np.arange(SIZE) + 0.5) * PIXEL
    phi = np.zeros((SIZE, SIZE))
    for (x, y), w in zip(xy, rng.uniform(0.5, 1.5, atoms)):
        dy = (grid[:, None] - y + CELL / 2) % CELL - CELL / 2
        dx = (grid[None, :] - x + CELL / 2) % CELL - CELL / 2
        phi += w * np.exp(-(dx ** 2 + dy ** 2) / (2 * 0.8 ** 2))
    return 0.02 * phi


def stored_pattern(phi: np.ndarray) -> tuple[np.ndarray, float]:
    """|FFT(exp(iφ))|² as the simulator stores it: abTEM's odd grid (63 pixels of 1/cell Å⁻¹, zeroth
    order blocked) resampled to SIZE pixels; returns it and its Å⁻¹ per pixel."""
    f = np.fft.fftshift(np.abs(np.fft.fft2(np.exp(1j * phi))) ** 2)
    native = f[1:, 1:].copy()  # indices -31…31: zero at the middle of 63
    native[31, 31] = 0.0
    return _resize_pattern(native, SIZE), 63 / (CELL * SIZE)


def low_res(phi: np.ndarray, seed: int, noise: float = 0.3) -> np.ndarray:
    """The object low-passed to ~8 Å (nothing beyond 6 Å) plus white noise of ``noise`` × its std."""
    k = P.radius(SIZE, PIXEL)
    low = np.fft.ifft2(np.fft.fft2(phi) * np.exp(-(k * 6.0) ** 2) * (k < 1 / 6.0)).real
    return low + noise * low.std() * np.random.default_rng([seed, 1]).standard_normal(low.shape)


def test_pattern_amplitudes_undo_the_resampling():
    phi = blob_object(0)
    pattern, pattern_k = stored_pattern(phi)
    amplitude, known = P.pattern_amplitudes(pattern, pattern_k, PIXEL)
    truth = np.abs(np.fft.fft2(np.exp(1j * phi)))
    assert P.native_size(pattern_k, PIXEL, SIZE) == 63
    assert not known[0, 0] and known.sum() == 63 * 63 - 1  # all but k = 0 and the Nyquist row/column
    np.testing.assert_allclose(amplitude[0][known], truth[known], rtol=2e-3, atol=1e-3 * truth[known].max())


def test_phasing_recovers_high_resolution_with_the_true_pattern_only():
    objects = [blob_object(s) for s in (1, 2)]
    patterns = np.stack([stored_pattern(p)[0] for p in objects])
    pattern_k = stored_pattern(objects[0])[1]
    lows = np.stack([low_res(p, s) for s, p in enumerate(objects)])
    truth = np.stack(objects)
    # the low-res image has nothing beyond 6 Å
    assert P.band_frc(lows, truth, PIXEL) < 0.1
    phased = P.phase_triplets(patterns, lows, pattern_k, PIXEL)
    swapped = P.phase_triplets(patterns[::-1], lows, pattern_k, PIXEL)
    assert P.band_frc(phased, truth, PIXEL) > 0.6  # 5–3.5 Å
    assert P.band_frc(swapped, truth, PIXEL) < 0.2


def test_phasing_generator_adds_the_phased_channel_and_caches_rotations():
    from emgan_diffragan.networks import DiffraGANPhasingUNet
    from emgan_diffragan.task import network_inputs

    phi = blob_object(3)
    pattern, pattern_k = stored_pattern(phi)
    x = torch.from_numpy(network_inputs(pattern[None], low_res(phi, 3)[None], "linear"))
    net = DiffraGANPhasingUNet(pattern_k, PIXEL, channels=4, depth=6).eval()
    channel = net.phased(x)
    assert channel.shape == (1, 1, SIZE, SIZE) and float(channel.min()) == pytest.approx(-1.0)
    assert P.band_frc(channel[0, 0].numpy(), phi, PIXEL) > 0.6
    assert len(net._cache) == 1
    turned = net.phased(torch.rot90(x, 1, (2, 3)))  # from the cache: the rotated result
    assert len(net._cache) == 1
    np.testing.assert_array_equal(turned.numpy(), torch.rot90(channel, 1, (2, 3)).numpy())
    fresh = DiffraGANPhasingUNet(pattern_k, PIXEL, channels=4, depth=6).eval()  # the turned triplet first
    np.testing.assert_array_equal(fresh.phased(torch.rot90(x, 1, (2, 3))).numpy(), turned.numpy())
    assert net(x).shape == (1, 1, SIZE, SIZE)
    with pytest.raises(ValueError):
        net(x[:, :1])


def test_phasing_recipe_geometry_matches_its_simulator(data_dir):
    """diffragan-quickstart's generator is told the pattern's Å⁻¹/pixel and the images' Å/pixel: they
    must be those of the recipe's own simulator."""
    from pathlib import Path

    import yaml
    from emgan_diffragan.simulator import TripletSimulator

    from emgan_core.api import electron_wavelength

    recipe = yaml.safe_load((Path(P.__file__).parent / "recipes" / "diffragan-quickstart.yaml").read_text())
    assert recipe["task"]["params"]["diffraction"] == "linear"
    params = recipe["generator"]["params"]
    sim = TripletSimulator(**{**recipe["simulator"]["params"], "dose": 400.0})
    t = sim.simulate(data_dir / "1orc.pdb", angles=[[10.0, 40.0, 0.0]])
    assert params["pixel_size"] == pytest.approx(t.pixel_size)
    assert params["pattern_k"] == pytest.approx(t.angular_sampling / (1000 * electron_wavelength(sim.energy)), rel=1e-4)
    # and the phaser, run as the generator runs it, beats the low-res image beyond 5 Å on this triplet
    phased = P.phase_triplets(t.diffraction, t.low, params["pattern_k"], params["pixel_size"])
    assert P.band_frc(phased, t.high, t.pixel_size) > P.band_frc(t.low, t.high, t.pixel_size) + 0.3


def test_phasing_generator_refuses_a_log_pattern_a_hybrid_channel_and_a_foreign_geometry():
    from types import SimpleNamespace

    from emgan_diffragan.networks import DiffraGANPhasingUNet
    from emgan_diffragan.task import DiffraGANTask

    from emgan_core.api import EmganError, electron_wavelength

    k, px = 0.0140625, 1.09375
    store = SimpleNamespace(settings={"energy": 200.0}, pixel_size=px,
                            angular_sampling=k * 1000.0 * electron_wavelength(200.0))
    gen = DiffraGANPhasingUNet(pattern_k=k, pixel_size=px, channels=4, depth=2)
    for params, message in (({"diffraction": "log"}, "diffraction: linear"),
                            ({"diffraction": "linear", "hybrid": True}, "hybrid: false")):
        task = DiffraGANTask(**params)
        task.bind({"generator": gen}, [])
        with pytest.raises(EmganError, match=message):
            task._check_phasing(store)
    task = DiffraGANTask(diffraction="linear")
    task.bind({"generator": gen}, [])
    task._check_phasing(store)  # the recipe's geometry: accepted
    with pytest.raises(EmganError, match="do not match the triplets"):
        task._check_phasing(SimpleNamespace(**{**vars(store), "pixel_size": 50.0 / 32}))
