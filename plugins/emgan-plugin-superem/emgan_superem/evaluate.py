"""Score a map and its enhanced version against the fitted model as the paper does: the shipped
benchmark template ``benchmarks/superem-evaluate.yaml`` run on the maps prepared on the 1 Å working
grid (``emgan superem evaluate``)."""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np

from emgan_core.api import (
    load_benchmark,
    read_map,
    resample_to_grid,
    run_benchmark,
    write_map,
)

from .paper import PAPER_STRIDE
from .prepare import PreparedPair, prepare_input, prepare_pair

#: the benchmark ``evaluate`` runs, with its files and options as overrides
TEMPLATE = Path(__file__).parent / "benchmarks" / "superem-evaluate.yaml"
#: the per-cube scores of ``metric/cube-improvement``, the paper's (about zero) first
CC_METHODS = ("about-zero", "about-mean", "pearson")
#: the template's controls: maps no one would call enhanced
CONTROLS = ("blur", "mask")


def controls(volume):
    """Maps that no one would call enhanced, scored like the network's output: the input blurred
    with a Gaussian of σ = 1 Å (``blur``), and the input's contour mask, 1 where the thresholded
    input is non-zero and 0 elsewhere (``mask``)."""
    from scipy.ndimage import gaussian_filter

    data = np.asarray(volume.data, np.float32)
    sigma = 1.0 / float(np.mean(volume.voxel_size))
    return {"blur": volume.with_data(gaussian_filter(data, sigma)),
            "mask": volume.with_data((data > 0).astype(np.float32))}


def prepare_evaluation(before, after, model, resolution: float, contour: float | None, folder,
                       with_controls: bool = True) -> tuple[dict[str, Path], PreparedPair]:
    """Write the prepared input, model map (``target``), enhanced map and, ``with_controls``, the
    controls into ``folder``: {name: path} and the prepared pair."""
    pair = prepare_pair(before, model, resolution, "auto" if contour is None else contour)
    enhanced = prepare_input(read_map(after, allow_stack=False), 1.0)
    maps = {"input": pair.input, "target": pair.target,
            "after": enhanced.with_data(resample_to_grid(enhanced, pair.input).data)}
    if with_controls:
        maps.update(controls(pair.input))
    paths = {name: Path(folder) / f"{name}.mrc" for name in maps}
    with warnings.catch_warnings():  # temporary files, read back by this program only
        warnings.simplefilter("ignore")
        for name, volume in maps.items():
            write_map(paths[name], volume)
    return paths, pair


def evaluation_benchmark(prepared: dict, model, stride: int = PAPER_STRIDE, with_controls: bool = True):
    """:data:`TEMPLATE` on prepared files (``input``, ``target``, ``after`` and, ``with_controls``,
    ``blur`` and ``mask``): the enhanced map, the input itself (``before``) and the controls, scored
    against the model map by the paper's per-cube CC (cubes at ``stride``), d_model and FSC."""
    overrides = {"inputs.0.input": str(prepared["input"]), "inputs.0.reference": str(prepared["target"]),
                 "inputs.0.model": str(model), "methods.after.output": str(prepared["after"]),
                 "metrics.cube-improvement.params.stride": stride}
    for name in CONTROLS:  # without them, left out
        if with_controls:
            overrides[f"methods.{name}.output"] = str(prepared[name])
        else:
            overrides[f"methods.{name}"] = None
    return load_benchmark(TEMPLATE, overrides=overrides)


def evaluate(before, after, model, resolution: float, contour: float | None = None, stride: int = PAPER_STRIDE,
             cc: str = "about-zero", with_controls: bool = True) -> dict:
    """The report of ``evaluate`` (its JSON): the per-cube CC (``cc`` is the headline score; all of
    :data:`CC_METHODS` under ``by_method``), d_model and FSC before and after, and the controls'."""
    with tempfile.TemporaryDirectory() as tmp:
        paths, pair = prepare_evaluation(before, after, model, resolution, contour, Path(tmp), with_controls)
        rows = {r.method: r.values for r in run_benchmark(evaluation_benchmark(paths, model, stride, with_controls))}
    return evaluation_report(rows, pair, cc, contour_given=contour is not None, with_controls=with_controls)


def evaluation_report(rows: dict, pair: PreparedPair, cc: str = "about-zero", contour_given: bool = False,
                      with_controls: bool = True) -> dict:
    """The benchmark's rows (method label -> values) as ``evaluate`` reports them."""
    def cubes(values, method=cc):
        by = {m: {k: values[f"{m}/{k}"] for k in ("cc_before", "cc_after", "improved_fraction")} for m in CC_METHODS}
        return {"cubes": values["cubes"], "method": method, **by[method], "by_method": by}

    def fsc(values):
        return {k: v for k, v in values.items() if k.startswith("resolution_")}

    after, before = rows["after"], rows["before"]
    report = {"contour": pair.contour, "contour_rule": "given" if contour_given else "model volume",
              "cubes": cubes(after), "d_model_before_A": before["d_model_A"], "d_model_after_A": after["d_model_A"],
              "fsc_before": fsc(before), "fsc_after": fsc(after), "target_resolution_A": pair.target_resolution}
    if with_controls:
        report["controls"] = {name: {"cubes": cubes(rows[name]), "d_model_after_A": rows[name]["d_model_A"]}
                              for name in CONTROLS}
    return report
