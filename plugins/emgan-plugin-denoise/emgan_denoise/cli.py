"""``emgan denoise simulate|evaluate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from emgan_core.api import Action, EmganError, add_model_arguments, configure_actions, trained_model


def _simulate_arguments(p) -> None:
    p.add_argument("source", help="structure (PDB/mmCIF) or map (MRC)")
    p.add_argument("-o", "--output", required=True, help="folder for noisy.mrcs, clean.mrcs, particles.star")
    p.add_argument("-n", "--count", type=int, default=100, help="number of particles (100)")
    p.add_argument("--image-size", type=int, default=64, help="box in pixels (64)")
    p.add_argument("--pixel-size", type=float, default=1.5, help="Å/pixel (1.5)")
    p.add_argument("--resolution", type=float, default=3.0, help="Gaussian map resolution for structures, Å (3)")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--snr", type=float, default=None, help="signal-to-noise variance ratio (default 0.1)")
    noise.add_argument("--sigma", type=float, help="noise standard deviation in projection units")
    p.add_argument("--ctf", action="store_true", help="apply a CTF (defocus 1–2.5 µm, 300 kV, Cs 2.7 mm)")
    p.add_argument("--seed", type=int, default=0)


def cmd_simulate(args) -> int:
    from emgan_core.api import check_output, write_image_stack, write_particle_star

    from .simulator import ProjectionSimulator

    out = Path(args.output)
    if out.is_dir():  # a new folder holds nothing to overwrite
        for name in ("noisy.mrcs", "clean.mrcs", "particles.star"):
            check_output(out / name)
    sim = ProjectionSimulator(args.image_size, args.pixel_size, args.resolution, ctf=args.ctf,
                              sigma=args.sigma, snr=None if args.sigma is not None else (args.snr or 0.1))
    pairs = sim.simulate(args.source, count=args.count, seed=args.seed)
    out.mkdir(parents=True, exist_ok=True)  # only once there is something to write
    write_image_stack(out / "noisy.mrcs", pairs.noisy)
    write_image_stack(out / "clean.mrcs", pairs.clean)
    write_particle_star(out / "particles.star", out / "noisy.mrcs", pairs.angles, sim.pixel_size, sim.image_size,
                        pairs.defocus if sim.ctf else None, sim.voltage, sim.cs, sim.amplitude_contrast)
    print(f"{out}: {args.count} particles {args.image_size}² at {sim.pixel_size} Å/pixel "
          f"(noisy.mrcs, clean.mrcs, particles.star)", file=sys.stderr)
    return 0


def _simulated_particles(checkpoint, source, count: int, snr: float | None, seed: int, device: str = "cpu",
                         test_mode: str | None = None):
    """(task, pairs, simulator): the model and ``count`` particles of ``source`` simulated with its own
    simulator (optionally at another ``snr``)."""
    from emgan_core.api import load_for_inference

    from .simulator import ProjectionSimulator

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
    """(pairs, denoised (n, y, x), simulator): :func:`_simulated_particles`, then denoised
    (``test_mode``: the model's own, pix2pix by default, or ``eval``; torch seeded with ``seed``)."""
    import torch

    task, pairs, sim = _simulated_particles(checkpoint, source, count, snr, seed, device, test_mode)
    torch.manual_seed(seed)
    return pairs, task.denoise(pairs.noisy.data, device=device), sim


def evaluate_checkpoint(checkpoint, source, count: int = 64, snr: float | None = None, seed: int = 12345,
                        device: str = "cpu", test_mode: str | None = None) -> dict:
    """Scores (FRC, PSNR, SSIM; core ``image-scores``) of noisy and denoised particles against the
    clean ones: :func:`_simulated_particles`, written to a temporary folder and run through the
    benchmark harness as ``benchmarks/denoise/quickstart.yaml`` runs them (the noisy stack is the
    ``input`` control)."""
    import tempfile

    from emgan_core.api import Benchmark, run_benchmark, write_image_stack

    task, pairs, sim = _simulated_particles(checkpoint, source, count, snr, seed, device, test_mode)
    with tempfile.TemporaryDirectory() as tmp:
        noisy, clean = Path(tmp) / "noisy.mrcs", Path(tmp) / "clean.mrcs"
        write_image_stack(noisy, pairs.noisy)
        write_image_stack(clean, pairs.clean)
        model = {"label": "denoised", "checkpoint": str(checkpoint), "_loaded": (task, None)}
        bench = Benchmark("denoise-evaluate", [{"label": Path(source).stem, "input": str(noisy), "reference": str(clean)}],
                          [model, {"label": "noisy", "control": "input"}], ["image-scores"], normalise="none", seed=seed)
        scores = {r.method: r.values for r in run_benchmark(bench, device)}
    scores["settings"] = {"count": count, "snr": sim.snr, "sigma": sim.sigma, "pixel_size": sim.pixel_size,
                          "image_size": sim.image_size, "ctf": sim.ctf}
    return scores


DEFAULT_MODEL = "denoise-small"
"""The shipped denoising model (its card: ``emgan models show denoise-small``)."""


def _evaluate_arguments(p) -> None:
    p.add_argument("source", help="structure or map (held out from training for a fair test)")
    add_model_arguments(p, DEFAULT_MODEL, "64² particles at 1.5 Å/pixel, SNR 0.1")
    p.add_argument("-n", "--count", type=int, default=64, help="number of particles (64)")
    p.add_argument("--snr", type=float, help="noise level (default: the model's training simulator's)")
    p.add_argument("--seed", type=int, default=12345, help="orientations and noise")
    p.add_argument("--device", default="auto")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--eval-mode", action="store_true", help="generator in eval mode (dropout off, running "
                   "batch-norm statistics) instead of pix2pix's test-time dropout and batch statistics")


def cmd_evaluate(args) -> int:
    from emgan_core.api import resolve_device

    scores = evaluate_checkpoint(trained_model(args), args.source, args.count, args.snr, args.seed,
                                 resolve_device(args.device), "eval" if args.eval_mode else None)
    if args.json:
        print(json.dumps(scores, indent=2))
        return 0
    print(f"{args.source}: {args.count} particles, SNR {scores['settings']['snr']}")
    print(f"{'':10s} {'FRC-0.5 Å':>10s} {'FRC-0.143 Å':>12s} {'PSNR dB':>8s} {'SSIM':>6s}")
    for name in ("noisy", "denoised"):
        s = scores[name]
        print(f"{name:10s} {s['frc_0.5_A']:10.2f} {s['frc_0.143_A']:12.2f} {s['psnr_dB']:8.2f} {s['ssim']:6.3f}")
    return 0


ACTIONS = (
    Action("simulate", "write noisy particles, their clean projections and a RELION STAR file",
           "emgan denoise simulate examples/data/1aki.pdb -n 100 --snr 0.05 --ctf -o out/particles",
           cmd_simulate, _simulate_arguments),
    Action("evaluate", "denoise simulated particles of a structure or map and score them",
           "emgan denoise evaluate examples/data/1orc.pdb -n 64 --snr 0.05", cmd_evaluate, _evaluate_arguments),
)
configure = configure_actions(*ACTIONS)
