"""``emgan denoise simulate|evaluate``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from emgan_core.api import Action, add_model_arguments, configure_actions, trained_model


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
    from .simulate import write_particles

    sim = write_particles(args.source, args.output, count=args.count, image_size=args.image_size,
                          pixel_size=args.pixel_size, resolution=args.resolution, ctf=args.ctf, sigma=args.sigma,
                          snr=args.snr, seed=args.seed)
    print(f"{Path(args.output)}: {args.count} particles {args.image_size}² at {sim.pixel_size} Å/pixel "
          f"(noisy.mrcs, clean.mrcs, particles.star)", file=sys.stderr)
    return 0


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

    from .evaluate import evaluate_checkpoint

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
