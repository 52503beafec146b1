"""The benchmark harness: methods × inputs × metrics, with tables, plots and an HTML report."""

from .harness import Benchmark, load_benchmark, run_benchmark
from .report import write_report

__all__ = ["Benchmark", "load_benchmark", "run_benchmark", "write_report"]
