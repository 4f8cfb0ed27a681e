"""The summary of a results folder: a table per preset and variant, and PNG plots.

What a researcher looks at first: how accurate each preset was (TRE, else
Dice, else the final metric), how long it took, and how its runs converged.
Plots are drawn on matplotlib ``Figure`` objects with the Agg canvas, never
through pyplot, so a report works on a headless cluster node and leaves no
global figure state behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from workstation.experiments.results import atomic_write, read_history, read_table, run_dir, write_text

ACCURACY_MEASURES = (("tre_mean_mm", "mean TRE (mm)"), ("dice_mean", "mean Dice"), ("metric", "final metric"))
"""Accuracy shown in the plot, the first one the runs have."""


@dataclass
class Report:
    """The files a report wrote and its summary table."""

    summary: pd.DataFrame
    files: list[Path]


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """One row per preset and variant: run counts, accuracy and time over the successful runs."""
    groups = []
    for (preset, variant), runs in table.groupby(["preset", "variant"], sort=False):
        ok = runs[runs["status"] == "ok"]
        groups.append({
            "preset": preset, "variant": variant, "runs": len(runs), "ok": len(ok),
            "failed": int((runs["status"] == "failed").sum()),
            "tre_mean_mm": ok["tre_mean_mm"].mean(), "tre_median_mm": ok["tre_median_mm"].median(),
            "tre_max_mm": ok["tre_max_mm"].max(), "dice_mean": ok["dice_mean"].mean(),
            "ncc_after": ok["ncc_after"].mean(), "metric": ok["metric"].mean(),
            "iterations": ok["iterations"].mean(), "register_seconds_median": ok["register_seconds"].median(),
            "register_seconds_total": ok["register_seconds"].sum(),
        })
    return pd.DataFrame(groups)


def text_table(frame: pd.DataFrame) -> str:
    """A plain fixed-width table for the terminal and summary.txt (NaN shown as '-')."""
    cells = [[str(c) for c in frame.columns]]
    for row in frame.itertuples(index=False):
        cells.append(["-" if isinstance(v, float) and np.isnan(v) else f"{v:.4g}" if isinstance(v, float)
                      else str(v) for v in row])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in cells) + "\n"


def _save(figure: Figure, path: Path) -> Path:
    canvas = FigureCanvasAgg(figure)
    figure.tight_layout()
    atomic_write(path, lambda tmp: canvas.print_png(str(tmp)))
    return path


def _by_group(ok: pd.DataFrame, column: str) -> tuple[list[str], list[np.ndarray]]:
    labels, values = [], []
    for (preset, variant), runs in ok.groupby(["preset", "variant"], sort=False):
        labels.append(preset if variant == "default" else f"{preset}\n{variant}")
        values.append(runs[column].dropna().to_numpy(dtype=float))
    return labels, values


def _strip_plot(ok: pd.DataFrame, column: str, ylabel: str, title: str, path: Path) -> Path:
    """Every run as a dot over a box per preset/variant: few runs stay visible, many show their spread."""
    labels, values = _by_group(ok, column)
    figure = Figure(figsize=(max(4.0, 1.6 * len(labels) + 1.5), 4.0), dpi=100)
    axes = figure.add_subplot()
    positions = np.arange(1, len(labels) + 1)
    axes.boxplot(values, positions=positions, widths=0.5, showfliers=False)
    rng = np.random.default_rng(0)  # fixed jitter: the same results draw the same picture
    for position, data in zip(positions, values, strict=True):
        axes.plot(position + rng.uniform(-0.12, 0.12, len(data)), data, "o", alpha=0.7, markersize=4)
    axes.set_xticks(positions, labels)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(axis="y", alpha=0.3)
    return _save(figure, path)


def _convergence_plot(results: Path, ok: pd.DataFrame, path: Path) -> Path:
    """Metric against iteration (levels one after another), one panel per preset, one line per run."""
    presets = list(dict.fromkeys(ok["preset"]))
    figure = Figure(figsize=(6.0, 3.0 * max(1, len(presets))), dpi=100)
    for n, preset in enumerate(presets, start=1):
        axes = figure.add_subplot(len(presets), 1, n)
        for run in ok[ok["preset"] == preset].itertuples(index=False):
            history = read_history(run_dir(results, run.run_id))
            if len(history):
                axes.plot(np.arange(len(history)), history["value"].to_numpy(),
                          label=f"{run.pair} {run.variant} s{run.seed}", linewidth=1)
        axes.set_title(preset)
        axes.set_xlabel("iteration (all levels)")
        axes.set_ylabel("metric")
        axes.grid(alpha=0.3)
        if len(axes.lines) <= 12:
            axes.legend(fontsize=7)
    return _save(figure, path)


def write_report(results: str | Path) -> Report:
    """``summary.csv``, ``summary.txt``, ``accuracy.png``, ``time.png`` and ``convergence.png`` in ``results``."""
    results = Path(results)
    table = read_table(results)
    summary = summarize(table)
    files = [results / "summary.csv", results / "summary.txt"]
    atomic_write(files[0], lambda tmp: summary.to_csv(tmp, index=False))
    write_text(files[1], text_table(summary))
    ok = table[table["status"] == "ok"]
    if len(ok):
        column, label = next(((c, lbl) for c, lbl in ACCURACY_MEASURES if ok[c].notna().any()),
                             ACCURACY_MEASURES[-1])
        files.append(_strip_plot(ok, column, label, "accuracy per preset", results / "accuracy.png"))
        files.append(_strip_plot(ok, "register_seconds", "registration time (s)", "time per preset",
                                 results / "time.png"))
        files.append(_convergence_plot(results, ok, results / "convergence.png"))
    return Report(summary=summary, files=files)
