"""PNG plots of the eval and bench reports: Recall@k curves per mode, answer in context per token budget,
query-latency percentiles.

matplotlib is an optional extra (``pip install 'zh-rag[plots]'``, part of ``dev``). It is
imported inside the functions and drawn through ``FigureCanvasAgg`` directly, so no
global backend is selected and importing this module costs nothing. Without it the
functions return None and the commands say how to get plots.
"""
from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np

HOW_TO_GET_PLOTS = "plots skipped: matplotlib is not installed (pip install 'zh-rag[plots]')"


def _figure(width: float, height: float):
    """A figure drawn by Agg, or None without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


TITLE_CHARS = 80  # a line of the 7-inch figure's 10-point title; longer ones were clipped on both sides


def wrap_title(title: str, width: int = TITLE_CHARS) -> str:
    """The title in lines that fit the figure (file lists make long titles)."""
    return "\n".join(textwrap.wrap(title, width)) or title


def recall_plot(curves: dict[str, list[float]], path: Path, title: str) -> Path | None:
    """Recall@k for k = 1..len(curve), one line per mode; None without matplotlib."""
    fig = _figure(7, 4.2)
    if fig is None:
        return None
    ax = fig.add_subplot()
    lowest = 1.0
    for mode, curve in curves.items():
        ks = range(1, len(curve) + 1)
        ax.plot(ks, curve, label=f"{mode} (R@1 {curve[0]:.3f}, R@10 {curve[min(9, len(curve) - 1)]:.3f})",
                linewidth=1.8)
        lowest = min(lowest, min(curve))
    ax.set_xscale("log")
    ticks = [k for k in (1, 2, 5, 10, 20, 50, 100) if k <= max(len(c) for c in curves.values())]
    ax.set_xticks(ticks, [str(k) for k in ticks])
    ax.set_ylim(max(0.0, math.floor(lowest * 10) / 10 - 0.02), 1.005)
    ax.set_xlabel("k (documents retrieved)")
    ax.set_ylabel("Recall@k")
    ax.set_title(wrap_title(title), fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def budget_plot(series: dict[str, dict[str, dict[int, float]]], path: Path, title: str) -> Path | None:
    """Answer in context per token budget: per mode, /v1/context (solid) and the top-chunks-cut baseline
    (dashed). ``series``: mode -> {"evidence" | "baseline": {budget: share}}; None without matplotlib."""
    fig = _figure(7, 4.2)
    if fig is None:
        return None
    ax = fig.add_subplot()
    for mode, kinds in series.items():
        for kind, style in (("evidence", "-"), ("baseline", "--")):
            points = sorted((int(b), v) for b, v in kinds.get(kind, {}).items())
            label = f"{mode}: {'/v1/context' if kind == 'evidence' else 'top chunks, cut'}"
            ax.plot([b for b, _ in points], [v for _, v in points], style, marker="o", label=label, linewidth=1.8)
    ax.set_xscale("log")
    budgets = sorted({int(b) for kinds in series.values() for by in kinds.values() for b in by})
    ax.minorticks_off()
    ax.set_xticks(budgets, [str(b) for b in budgets])
    ax.set_ylim(0, 1.005)
    ax.set_xlabel("max_tokens")
    ax.set_ylabel("answer in context")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def latency_plot(sections: dict[str, dict[str, list[float]]], path: Path, title: str) -> Path | None:
    """Latency (ms) at each percentile, one panel per measured index, one line per mode; None without matplotlib.

    ``sections``: panel title -> mode -> the latencies measured (ms).
    """
    sections = {name: series for name, series in sections.items() if any(series.values())}
    if not sections:
        return None
    fig = _figure(4.6 * len(sections) + 0.6, 4.2)
    if fig is None:
        return None
    axes = fig.subplots(1, len(sections), squeeze=False)[0]
    for ax, (name, series) in zip(axes, sections.items()):
        for mode, values in series.items():
            ordered = sorted(values)
            n = len(ordered)
            pcts = [100 * (i + 0.5) / n for i in range(n)]
            p50, p99 = np.percentile(ordered, [50, 99])  # as the report computes them
            ax.plot(pcts, ordered, label=f"{mode} (p50 {p50:.1f}, p99 {p99:.1f} ms, n={n})", linewidth=1.6)
        ax.set_yscale("log")
        ax.set_xlim(0, 100)
        for p in (50, 95, 99):
            ax.axvline(p, color="grey", linewidth=0.6, linestyle=":")
        ax.set_xlabel("percentile of queries")
        ax.set_ylabel("latency (ms, log scale)")
        ax.set_title(name, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title, fontsize=11)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path
