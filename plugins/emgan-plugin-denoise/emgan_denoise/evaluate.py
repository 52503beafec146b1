"""Evaluate a denoising model on particles its own simulator makes: the shipped benchmark template
``benchmarks/denoise-evaluate.yaml`` run on them (``emgan denoise evaluate``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from emgan_core.api import (
    EmganError,
    load_benchmark,
    load_for_inference,
    run_benchmark,
    write_image_stack,
)

from .simulator import ProjectionSimulator

#: the benchmark ``evaluate`` runs, with its files and options as overrides
TEMPLATE = Path(__file__).parent / "benchmarks" / "denoise-evaluate.yaml"


def simulated_particles(checkpoint, source, count: int, snr: float | None, seed: int, device: str = "cpu",
                        test_mode: str | None = None):
    """(task, pairs, simulator): the model and ``count`` particles of ``source`` simulated with its own
    simulator (optionally at another ``snr``)."""
    task, _ = load_for_inference(checkpoint, device, test_mode=test_mode)
    sim = task.simulator
    if not isinstance(sim, ProjectionSimulator):
        raise EmganError("the checkpoint was not trained with simulator/projection", str(checkpoint))
    if snr is not None:
        if not float(snr) > 0:
            raise EmganError(f"must be > 0, got {snr}", "--snr")
        sim.snr, sim.sigma = float(snr), None
    return task, sim.simulate(source, count=count, seed=seed), sim


def denoise_simulated(checkpoint, source, count: int = 64, snr: float | None = None, seed: int = 12345,
                      device: str = "cpu", test_mode: str | None = None):
    """(pairs, denoised (n, y, x), simulator): :func:`simulated_particles`, then denoised
    (``test_mode``: the model's own, pix2pix by default, or ``eval``; torch seeded with ``seed``)."""
    import torch

    task, pairs, sim = simulated_particles(checkpoint, source, count, snr, seed, device, test_mode)
    torch.manual_seed(seed)
    return pairs, task.denoise(pairs.noisy.data, device=device), sim


def evaluate_checkpoint(checkpoint, source, count: int = 64, snr: float | None = None, seed: int = 12345,
                        device: str = "cpu", test_mode: str | None = None) -> dict:
    """Scores (FRC, PSNR, SSIM; core ``image-scores``) of noisy and denoised particles against the
    clean ones, by method label, and the simulation's ``settings``: :func:`simulated_particles`,
    written to a temporary folder and scored by :data:`TEMPLATE` (the noisy stack is its ``input``
    control)."""
    task, pairs, sim = simulated_particles(checkpoint, source, count, snr, seed, device, test_mode)
    with tempfile.TemporaryDirectory() as tmp:
        noisy, clean = Path(tmp) / "noisy.mrcs", Path(tmp) / "clean.mrcs"
        write_image_stack(noisy, pairs.noisy)
        write_image_stack(clean, pairs.clean)
        bench = load_benchmark(TEMPLATE, overrides={
            "inputs.0.label": Path(source).stem, "inputs.0.input": str(noisy), "inputs.0.reference": str(clean),
            "methods.denoised.checkpoint": str(checkpoint), "seed": seed})
        for method in bench.methods:  # the model loaded above serves every checkpoint method
            if "checkpoint" in method:
                method["_loaded"] = (task, None)
        scores = {r.method: r.values for r in run_benchmark(bench, device)}
    scores["settings"] = {"count": count, "snr": sim.snr, "sigma": sim.sigma, "pixel_size": sim.pixel_size,
                          "image_size": sim.image_size, "ctf": sim.ctf}
    return scores
