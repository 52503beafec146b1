"""emgan's own shared components, registered through the same hooks as any plugin.

Factories are named by import path, so listing components imports neither torch nor scipy.
"""

from __future__ import annotations

import ast
from pathlib import Path

from .hookspecs import hookimpl
from .records import Component

_METRICS = Path(__file__).parent / "metrics"


@hookimpl
def emgan_simulators():
    return [Component("gaussian", "emgan_core.simulators:GaussianSimulator",
                      "Gaussian density map of an atomic model (molmap or TEMPy convention)")]


@hookimpl
def emgan_losses():
    loss = "emgan_core.losses:"
    return [
        Component("bce", loss + "BCELoss", "adversarial binary cross-entropy on logits (GAN, pix2pix)"),
        Component("least-squares", loss + "LeastSquaresLoss", "adversarial least squares (LSGAN)"),
        Component("wasserstein", loss + "WassersteinLoss", "Wasserstein critic/generator loss (WGAN)"),
        Component("hinge", loss + "HingeLoss", "adversarial hinge loss"),
        Component("probability", loss + "ProbabilityLoss",
                  "adversarial loss linear in the critic's sigmoid probability (SRGAN, SuperEM)"),
        Component("l1", loss + "L1Loss", "mean absolute error"),
        Component("smooth-l1", loss + "SmoothL1Loss", "smooth L1 (Huber) with threshold beta"),
        Component("mse", loss + "MSELoss", "mean squared error"),
        Component("shell-correlation", loss + "ShellCorrelationLoss",
                  "1 - mean Fourier ring (2D) or shell (3D) correlation, every ring weighted the same"),
    ]


def _metric(name: str, module: str, function: str | None = None) -> Component:
    """A metric function of ``emgan_core/metrics/<module>.py``; its summary is the first line of that
    module's docstring (read from the file, without importing it)."""
    doc = ast.get_docstring(ast.parse((_METRICS / f"{module}.py").read_text())) or name
    return Component(name, f"emgan_core.metrics.{module}:{function or module}",
                     doc.strip().splitlines()[0].rstrip("."), wrap="emgan_core.metrics:metric_factory")


@hookimpl
def emgan_metrics():
    return [
        _metric("ssim", "ssim"),
        _metric("chimerax-correlation", "chimerax_correlation"),
        _metric("box-correlation", "box_correlation"),
        _metric("box-correlation-about-mean", "box_correlation_about_mean"),
        _metric("pearson", "pearson"),
        _metric("thresholded-pcc", "thresholded_pcc"),
        _metric("thresholded-ssim", "thresholded_ssim"),
        _metric("psnr", "psnr"),
        _metric("fsc", "fsc"),
        _metric("frc", "frc"),
        _metric("image-scores", "image_scores"),
        _metric("prdc", "prdc"),
        _metric("fid", "fid"),
        _metric("inception-score", "inception_score"),
    ]


@hookimpl
def emgan_tasks():
    return [Component("paired", "emgan_core.tasks:PairedTask",
                      "conditional GAN on aligned (input, target) pairs (pix2pix-style)")]


@hookimpl
def emgan_generators():
    return [Component("unet", "emgan_core.networks:UNetGenerator",
                      "pix2pix U-Net, 2D or 3D: skips between encoder i and decoder n-i, tanh")]


@hookimpl
def emgan_critics():
    return [Component("patchgan", "emgan_core.networks:PatchGANCritic",
                      "PatchGAN critic, 2D or 3D (pix2pix); logits per patch")]


@hookimpl
def emgan_filters():
    filters = "emgan_core.filters:"
    return [
        Component("lowpass", filters + "LowPass", "Gaussian low-pass of images at a cutoff (Å)"),
        Component("wiener", filters + "WienerFilter",
                  "Wiener filter of images, noise level known (SNR), signal spectrum from the stack; "
                  "optionally each image's CTF corrected"),
        Component("nl-means", filters + "NonLocalMeans", "non-local means of images (scikit-image)"),
    ]
