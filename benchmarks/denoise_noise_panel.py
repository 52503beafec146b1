"""The particle-denoising paper's noise panel (its Figure 3), on the bundled proteins.

One model per noise level (the denoise-quickstart recipe at that SNR), each scored on held-out
orientations of a training protein and on a held-out protein: FRC-0.5 / FRC-0.143 (Å), PSNR (dB)
and SSIM of the noisy input and of the denoised output against the clean projection. Prints a
table, writes it as JSON and an image grid (noisy / denoised / truth per level) as PNG.

    python benchmarks/denoise_noise_panel.py --snr 1 0.3 0.1 0.03 --steps 2000 -o out/denoise-panel
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "examples" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--snr", type=float, nargs="+", default=[1.0, 0.3, 0.1, 0.03])
    ap.add_argument("--steps", type=int, default=None, help="training steps per level (recipe default)")
    ap.add_argument("--count", type=int, default=64, help="test particles per protein")
    ap.add_argument("--heldout", default=str(DATA / "1orc.pdb"), help="protein not seen in training")
    ap.add_argument("--seen", default=str(DATA / "1aki.pdb"), help="training protein, new orientations")
    ap.add_argument("-o", "--output", default="out/denoise-panel")
    ap.add_argument("--json", help="also write a benchmark record here (for benchmarks/report_page.py)")
    args = ap.parse_args()
    if args.json:
        args.json = str(Path(args.json).resolve())
    os.chdir(ROOT)  # the recipe names its data relative to the checkout

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from emgan_core.recipes import load_recipe, validate
    from emgan_core.training.trainer import Trainer
    from emgan_denoise.evaluate import denoise_simulated
    from emgan_core.metrics import image_scores

    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    rows, grid = [], []
    for snr in args.snr:
        run = out / f"snr{snr:g}"
        overrides = [f"simulator.params.snr={snr}"] + ([f"train.steps={args.steps}",
                                                         f"train.checkpoint_every={args.steps}"] if args.steps else [])
        t0 = time.perf_counter()
        if not (run / "checkpoints" / "last.pt").exists():
            Trainer(validate(load_recipe("denoise-quickstart", overrides)), run).fit()
        train_s = time.perf_counter() - t0
        for label, source in (("held-out orientations", args.seen), ("held-out protein", args.heldout)):
            pairs, den, sim = denoise_simulated(run, source, args.count, snr)
            scores = {name: image_scores(images, pairs.clean.data, sim.pixel_size).values
                      for name, images in (("noisy", pairs.noisy.data), ("denoised", den))}
            rows.append({"snr": snr, "test": label, "protein": Path(source).stem, "train_s": train_s, **{
                f"{k}/{m}": v for k, s in scores.items() for m, v in s.items()}})
            if label == "held-out protein":
                grid.append((snr, pairs.noisy.data[:3], den[:3], pairs.clean.data[:3]))

    head = f"{'SNR':>5} {'test':22} {'FRC-0.5 Å noisy→den':>20} {'FRC-0.143 Å':>14} {'PSNR dB':>14} {'SSIM':>12}"
    print(head)
    for r in rows:
        print(f"{r['snr']:5g} {r['test']:22} {r['noisy/frc_0.5_A']:8.2f} → {r['denoised/frc_0.5_A']:7.2f}   "
              f"{r['noisy/frc_0.143_A']:5.2f} → {r['denoised/frc_0.143_A']:5.2f} "
              f"{r['noisy/psnr_dB']:5.1f} → {r['denoised/psnr_dB']:5.1f} {r['noisy/ssim']:.3f} → {r['denoised/ssim']:.3f}")
    (out / "panel.json").write_text(json.dumps(rows, indent=2))

    fig, axes = plt.subplots(len(grid), 9, figsize=(13.5, 1.6 * len(grid) + 0.4), squeeze=False)
    for i, (snr, noisy, den, clean) in enumerate(grid):
        for j in range(3):
            for k, (name, img) in enumerate((("noisy", noisy[j]), ("denoised", den[j]), ("truth", clean[j]))):
                ax = axes[i, 3 * j + k]
                ax.imshow(img, cmap="gray")
                ax.set_xticks([]), ax.set_yticks([])
                if i == 0:
                    ax.set_title(name, fontsize=8)
            axes[i, 0].set_ylabel(f"SNR {snr:g}", fontsize=8)
    fig.suptitle(f"{Path(args.heldout).stem} (held out): noisy / denoised / truth", fontsize=9)
    fig.tight_layout()
    fig.savefig(out / "panel.png", dpi=110)
    print(f"wrote {out / 'panel.json'} and {out / 'panel.png'}")
    if args.json:
        import sys

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bench_record import machine, write_record

        write_record(args.json, {
            "benchmark": "denoise-panel",
            "title": "Particle denoising noise panel (quality, not speed)",
            "peer": "the noisy input itself",
            "columns": ["SNR", "test", "FRC-0.5 Å noisy", "FRC-0.5 Å denoised", "PSNR dB noisy",
                        "PSNR dB denoised", "SSIM noisy", "SSIM denoised", "train s"],
            "rows": [[r["snr"], r["test"], round(r["noisy/frc_0.5_A"], 2), round(r["denoised/frc_0.5_A"], 2),
                      round(r["noisy/psnr_dB"], 2), round(r["denoised/psnr_dB"], 2), round(r["noisy/ssim"], 3),
                      round(r["denoised/ssim"], 3), round(r["train_s"], 1)] for r in rows],
            "headline": [],
            "notes": [f"{args.steps or 'recipe default'} training steps per level, {args.count} test particles "
                      "per protein; with few steps the table shows the pipeline runs, not the method's quality."],
        }, machine("cpu"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
