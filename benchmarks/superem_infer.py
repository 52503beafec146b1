"""SuperEM whole-map inference speed on CPU: the paper's mode against fast modes, in one run.

Paper mode: 25³ cubes at stride 4, equal-weight averaging (every voxel is covered by up to
~250 cubes). Fast modes: a larger stride, optionally with Hann blending (cube centres weigh more).
Prints voxels/s of the output map for each, the speed-up over the paper mode and the correlation of
each output with the paper mode's output (target ≥ 0.99).

    python benchmarks/superem_infer.py --weights ../shared/data/pretrained/emgan_G_model \\
        --map examples/data/emd2566_3J6B_chain9.mrc

Without --weights the published structure runs with random weights (timing only is meaningful,
correlations less so).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from emgan_core.io import read_map
from emgan_superem.networks import SRResNet3D
from emgan_superem.prepare import prepare_input
from emgan_superem.task import enhance
from emgan_superem.weights import load_published_state, translate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--map", default="examples/data/emd2566_3J6B_chain9.mrc")
    ap.add_argument("--weights", help="published EM-GAN G_model (default: random weights)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--modes", default="4:average,6:average,8:average,8:hann,12:average",
                    help="stride:blend list; the first is the reference")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = SRResNet3D()
    if args.weights:
        net.load_state_dict(translate(load_published_state(args.weights)))
    work = prepare_input(read_map(args.map), 1.0)
    print(f"map {args.map}: {work.shape} voxels at 1 Å ({work.data.size:,}); {args.threads} threads, "
          f"batch {args.batch_size}, device {args.device}, weights {'published' if args.weights else 'random'}")
    enhance(net, work.data[:25, :25, :25], stride=25, device=args.device)  # warm-up
    ref = ref_time = None
    print(f"{'mode':<16}{'seconds':>9}{'voxels/s':>11}{'speed-up':>10}{'r vs paper':>12}")
    for mode in args.modes.split(","):
        stride, blend = mode.split(":")
        t0 = time.perf_counter()
        out = enhance(net, work.data, stride=int(stride), blend=blend, batch_size=args.batch_size,
                      device=args.device)
        seconds = time.perf_counter() - t0
        if ref is None:
            ref, ref_time = out, seconds
        r = float(np.corrcoef(out.ravel(), ref.ravel())[0, 1])
        print(f"{mode:<16}{seconds:>9.1f}{work.data.size / seconds:>11.0f}{ref_time / seconds:>9.1f}×{r:>12.4f}")


if __name__ == "__main__":
    main()
