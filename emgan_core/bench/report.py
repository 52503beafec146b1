"""Benchmark outputs: results.csv, results.json, report.md and a self-contained report.html.

The HTML page embeds its figures as PNG data: per-method mean/median tables, one box plot per
metric, FSC curves per input and central slices (z, y, x midplanes) of each output next to its
reference.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..io.atomic import atomic_output
from ..io.sets import LabelledSet
from ..volume import ImageStack
from .harness import Benchmark, Result, summarise


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _fmt(v) -> str:
    return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.4g}"


def _metric_names(results: list[Result]) -> list[str]:
    names: list[str] = []
    for r in results:
        names += [k for k in r.values if k not in names]
    return names


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _box_plots(results: list[Result], methods: list[str]) -> list[tuple[str, str]]:
    plt, out = _plt(), []
    for name in _metric_names(results):
        data = [[r.values[name] for r in results if r.method == m and name in r.values
                 and math.isfinite(r.values[name])] for m in methods]
        fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(methods), 3))
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(methods) + 1), methods, rotation=20, ha="right")
        ax.set_title(name)
        out.append((name, _png(fig)))
    return out


def _resolution_plots(results: list[Result], methods: list[str]) -> list[tuple[str, str]]:
    """Score against the inputs' map resolution (struc2mapGAN Figure 5), when they give two or more."""
    if len({r.resolution for r in results if r.resolution is not None}) < 2:
        return []
    plt, out = _plt(), []
    for name in _metric_names(results):
        fig, ax = plt.subplots(figsize=(4.5, 3))
        for m in methods:
            pts = sorted((r.resolution, r.values[name]) for r in results
                         if r.method == m and r.resolution is not None and name in r.values)
            if pts:
                ax.plot(*zip(*pts), marker="o", label=m)
        ax.set_xlabel("map resolution (Å)")
        ax.set_title(name)
        ax.legend(fontsize=7)
        out.append((f"{name} vs resolution", _png(fig)))
    return out


def _fsc_plot(results: list[Result], inp: str) -> list[tuple[str, str]]:
    curves = [(r.method, r.curves["fsc"]) for r in results if r.input == inp and "fsc" in r.curves]
    if not curves:
        return []
    fig, ax = _plt().subplots(figsize=(5, 3))
    for method, curve in curves:
        ax.plot(curve["x"], curve["y"], label=method)
    ax.axhline(0.5, ls=":", c="grey")
    ax.axhline(0.143, ls="--", c="grey")
    ax.set_xlabel("spatial frequency (1/Å)")
    ax.set_ylabel("FSC vs reference")
    ax.set_title(inp)
    ax.legend(fontsize=7)
    return [(inp, _png(fig))]


def _slices(results: list[Result], inp: str) -> list[tuple[str, str]]:
    """Central z, y, x planes of the reference and of each method's output."""
    rows = [r for r in results if r.input == inp and r.output is not None]
    if not rows:
        return []
    panels = [("reference", rows[0].reference.data)] + [(r.method, r.output.data) for r in rows]
    stack = isinstance(rows[0].reference, (ImageStack, LabelledSet))  # first, middle and last sample
    n = len(panels[0][1])
    fig, axes = _plt().subplots(3, len(panels), figsize=(1.8 * len(panels), 5.4), squeeze=False)
    for j, (label, vol) in enumerate(panels):
        if stack:
            picks = [vol[min(i, len(vol) - 1)] for i in (0, n // 2, n - 1)]
            mids = [p[p.shape[0] // 2] if p.ndim == 3 else p for p in picks]  # a 3D sample: its central z
        else:
            mids = (vol[vol.shape[0] // 2], vol[:, vol.shape[1] // 2], vol[:, :, vol.shape[2] // 2])
        for i, sl in enumerate(mids):
            axes[i, j].imshow(sl, cmap="gray", origin="lower")
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[0, j].set_title(label, fontsize=8)
    for i, plane in enumerate(("sample 1", f"sample {n // 2 + 1}", f"sample {n}") if stack else
                              ("z mid", "y mid", "x mid")):
        axes[i, 0].set_ylabel(plane, fontsize=8)
    return [(inp, _png(fig))]


def _figures(results: list[Result]) -> dict[str, list[tuple[str, str]]]:
    methods = list(dict.fromkeys(r.method for r in results))
    inputs = list(dict.fromkeys(r.input for r in results))
    return {"box": _box_plots(results, methods) if len(inputs) > 1 else [],
            "resolution": _resolution_plots(results, methods),
            "fsc": [f for inp in inputs for f in _fsc_plot(results, inp)],
            "slices": [f for inp in inputs for f in _slices(results, inp)]}


def _section(title: str, body: str, why_empty: str) -> str:
    """An HTML section; without content, one line saying why (or nothing when ``why_empty`` is empty)."""
    if body:
        return f"<h2>{title}</h2>{body}"
    return f"<p><em>{title}: {why_empty}.</em></p>" if why_empty else ""


def _column(name: str, metric_of: dict[str, str]) -> str:
    """A column header naming the value and the metric that gave it: ``cc [chimerax-correlation]``."""
    metric = metric_of.get(name)
    return f"{name} [{metric}]" if metric and metric.replace("-", "_") != name else name


def _table_rows(summary, names, metric_of) -> tuple[list[str], list[list[str]]]:
    header = ["method"] + [f"{_column(n, metric_of)} (mean / median)" for n in names + ["seconds"]]
    rows = []
    for method, stats in summary.items():
        rows.append([method] + [f"{_fmt(stats[n]['mean'])} / {_fmt(stats[n]['median'])}" if n in stats else "–"
                                for n in names + ["seconds"]])
    return header, rows


def _legend(bench: Benchmark, results: list[Result], names: list[str]) -> list[tuple[str, str, str]]:
    """(metric, its value columns, what it measures) for every metric of the benchmark."""
    from ..registry import get_registry

    reg = get_registry()
    metric_of: dict[str, str] = {}
    for r in results:
        metric_of.update(r.metric_of)
    rows = []
    for spec in bench.metrics:
        name = spec if isinstance(spec, str) else spec["name"]
        params = {} if isinstance(spec, str) else (spec.get("params") or {})
        summary = reg.get("metric", name).component.summary
        if params:
            summary += " (" + ", ".join(f"{k}={v}" for k, v in params.items()) + ")"
        rows.append((name, ", ".join(n for n in names if metric_of.get(n) == name), summary))
    return rows


@dataclass
class _Tables:
    """Everything the Markdown and HTML pages show, computed once."""

    names: list[str]
    header: list[str]
    rows: list[list[str]]
    legend: list[tuple[str, str, str]]
    per_input_header: list[str]
    per_input: list[list[str]]
    intro: str
    n_inputs: int


def _tables(bench: Benchmark, results: list[Result]) -> _Tables:
    names = _metric_names(results)
    summary = summarise(results)
    metric_of = {k: v for r in results for k, v in r.metric_of.items()}
    header, rows = _table_rows(summary, names, metric_of)
    n_inputs = len(set(r.input for r in results))
    intro = (f"n = {n_inputs} input{'s' if n_inputs != 1 else ''} × {len(summary)} methods; "
             f"mean / median over the n inputs. Maps normalised: {bench.normalise}.")
    per_input = [[r.method, r.input] + [_fmt(r.values.get(n)) for n in names] + [f"{r.seconds:.2f}"]
                 for r in results]
    return _Tables(names, header, rows, _legend(bench, results, names),
                   ["method", "input"] + [_column(n, metric_of) for n in names] + ["seconds"],
                   per_input, intro, n_inputs)


def _markdown(bench: Benchmark, t: _Tables) -> str:
    def md_table(head, body):
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + [
            "| " + " | ".join(row) + " |" for row in body]

    md = [f"# Benchmark: {bench.name}", ""] + ([bench.note, ""] if bench.note else []) + [t.intro, ""]
    md += md_table(t.header, t.rows)
    md += ["", "## Metrics", ""] + md_table(["metric", "columns", "definition"], t.legend)
    md += ["", "## Per input", ""] + md_table(t.per_input_header, t.per_input)
    return "\n".join(md) + "\n"


def _html(bench: Benchmark, t: _Tables, figs: dict) -> str:
    esc = html.escape

    def table(head, body, cls):
        return (f'<table class="{cls}"><thead><tr>' + "".join(f"<th>{esc(h)}</th>" for h in head)
                + "</tr></thead><tbody>" + "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row)
                                                  + "</tr>" for row in body) + "</tbody></table>")

    def imgs(items):
        return "".join(f'<figure><img alt="{esc(title)}" src="data:image/png;base64,{b}">'
                       f'<figcaption>{esc(title)}</figcaption></figure>' for title, b in items)

    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>emgan benchmark: {esc(bench.name)}</title><style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;margin:1em 0}}
th,td{{border:1px solid #bbb;padding:4px 8px;font-size:13px;text-align:right}} th{{background:#eee}}
td:first-child,td:nth-child(2){{text-align:left}} figure{{display:inline-block;margin:6px}}
figcaption{{font-size:12px;text-align:center}}</style></head><body>
<h1>Benchmark: {esc(bench.name)}</h1>
{f"<p><strong>{esc(bench.note)}</strong></p>" if bench.note else ""}
<p>{esc(t.intro)} Outputs resampled onto each reference grid before scoring (except metrics that
place both maps in world coordinates themselves).</p>
<h2>Summary</h2>{table(t.header, t.rows, "summary")}
<h2>Metrics</h2>{table(["metric", "columns", "definition"], t.legend, "legend")}
<h2>Per input</h2>{table(t.per_input_header, t.per_input, "per-input")}
{_section("Distributions", imgs(figs["box"]), "one input, so no distribution to show")}
{_section("Score against resolution", imgs(figs["resolution"]), "the inputs give fewer than two resolutions")}
{_section("FSC against the reference", imgs(figs["fsc"]), "no FSC metric in this benchmark")}
<h2>Central slices</h2>{imgs(figs["slices"])}
</body></html>"""


REPORT_FILES = {"csv": "results.csv", "json": "results.json", "md": "report.md", "html": "report.html"}


def report_paths(out_dir: str | Path, check: bool = False) -> dict[str, Path]:
    """The report's files in ``out_dir`` by kind; ``check``: each checked as a new output
    (:func:`~emgan_core.io.atomic.check_output`) when the folder exists, before any work."""
    from ..io.atomic import check_output

    out = Path(out_dir)
    paths = {kind: out / name for kind, name in REPORT_FILES.items()}
    if check and out.is_dir():
        for path in paths.values():
            check_output(path)
    return paths


def write_report(bench: Benchmark, results: list[Result], out_dir: str | Path) -> dict[str, Path]:
    """Write results.csv, results.json, report.md and report.html into ``out_dir`` (each atomically);
    returns their paths by kind."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t = _tables(bench, results)
    paths = report_paths(out)
    with atomic_output(paths["csv"]) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "input"] + t.names + ["seconds", "peak_gpu_mb"])
        for r in results:
            w.writerow([r.method, r.input] + [r.values.get(n, "") for n in t.names]
                       + [f"{r.seconds:.4f}", "" if r.peak_gpu_mb is None else f"{r.peak_gpu_mb:.1f}"])
    clean = lambda v: None if isinstance(v, float) and not math.isfinite(v) else v  # noqa: E731
    payload = {"name": bench.name, "note": bench.note, "summary": summarise(results),
               "results": [{"method": r.method, "input": r.input,
                            "values": {k: clean(v) for k, v in r.values.items()},
                            "seconds": r.seconds, "peak_gpu_mb": r.peak_gpu_mb, "curves": r.curves}
                           for r in results]}
    with atomic_output(paths["json"]) as tmp:
        tmp.write_text(json.dumps(payload, indent=1))
    with atomic_output(paths["md"]) as tmp:
        tmp.write_text(_markdown(bench, t))
    with atomic_output(paths["html"]) as tmp:
        tmp.write_text(_html(bench, t, _figures(results)))
    return paths
