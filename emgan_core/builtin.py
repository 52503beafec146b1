"""emgan's own shared components, registered through the same hooks as any plugin."""

from __future__ import annotations

from . import losses, metrics
from .hookspecs import hookimpl
from .records import Component
from .networks import PatchGANCritic, UNetGenerator
from .simulators import GaussianSimulator
from .tasks import PairedTask


@hookimpl
def emgan_simulators():
    return [Component("gaussian", GaussianSimulator,
                      "Gaussian density map of an atomic model (molmap or TEMPy convention)")]


@hookimpl
def emgan_losses():
    return [
        Component("bce", losses.BCELoss, "adversarial binary cross-entropy on logits (GAN, pix2pix)"),
        Component("least-squares", losses.LeastSquaresLoss, "adversarial least squares (LSGAN)"),
        Component("wasserstein", losses.WassersteinLoss, "Wasserstein critic/generator loss (WGAN)"),
        Component("hinge", losses.HingeLoss, "adversarial hinge loss"),
        Component("probability", losses.ProbabilityLoss,
                  "adversarial loss linear in the critic's sigmoid probability (SRGAN, SuperEM)"),
        Component("l1", losses.L1Loss, "mean absolute error"),
        Component("smooth-l1", losses.SmoothL1Loss, "smooth L1 (Huber) with threshold beta"),
        Component("mse", losses.MSELoss, "mean squared error"),
        Component("shell-correlation", losses.ShellCorrelationLoss,
                  "1 - mean Fourier ring (2D) or shell (3D) correlation, every ring weighted the same"),
    ]


@hookimpl
def emgan_metrics():
    fns = {
        "ssim": metrics.ssim,
        "chimerax-correlation": metrics.chimerax_correlation,
        "box-correlation": metrics.box_correlation,
        "box-correlation-about-mean": metrics.box_correlation_about_mean,
        "pearson": metrics.pearson,
        "thresholded-pcc": metrics.thresholded_pcc,
        "thresholded-ssim": metrics.thresholded_ssim,
        "psnr": metrics.psnr,
        "fsc": metrics.fsc,
        "frc": metrics.frc,
        "image-scores": metrics.image_scores,
        "prdc": metrics.prdc,
        "fid": metrics.fid,
        "inception-score": metrics.inception_score,
    }
    return [metrics.metric_component(name, fn) for name, fn in fns.items()]


@hookimpl
def emgan_tasks():
    return [Component("paired", PairedTask, "conditional GAN on aligned (input, target) pairs (pix2pix-style)")]


@hookimpl
def emgan_generators():
    return [Component("unet", UNetGenerator, "pix2pix U-Net, 2D or 3D: skips between encoder i and decoder n-i, tanh")]


@hookimpl
def emgan_critics():
    return [Component("patchgan", PatchGANCritic, "PatchGAN critic, 2D or 3D (pix2pix); logits per patch")]
