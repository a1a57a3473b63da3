"""The headline chart of docs/benchmarks.md: how many times faster than Flask
erlen serves each scenario, as an SVG drawn with matplotlib.

``make bench`` writes it with the page; ``python -m benchmarks.chart`` draws it
again from ``benchmarks/results/latest.json``.
"""

from __future__ import annotations

import json
import os
import sys
import typing as t

from .scenarios import REAL

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHART = os.path.join(ROOT, "docs", "benchmarks.svg")
RESULTS = os.path.join(ROOT, "benchmarks", "results", "latest.json")


def ratios(results: dict[str, t.Any]) -> list[tuple[str, float]]:
    """``(scenario, Flask µs / erlen µs)``, real pages first, as measured."""
    us = results["in_process"]["us"]
    erlen, flask = us.get("erlen", {}), us.get("flask", {})
    ordered = [s for s in results["scenarios"] if s in REAL] + [
        s for s in results["scenarios"] if s not in REAL
    ]
    return [(s, flask[s] / erlen[s]) for s in ordered if erlen.get(s) and flask.get(s)]


def draw(results: dict[str, t.Any], path: str = CHART) -> str:
    """Write the chart to ``path`` (SVG, no embedded date: the file only
    changes when the numbers do) and return ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "erlen-benchmarks"
    matplotlib.rcParams["svg.fonttype"] = "none"  # text as text, not paths
    rows = ratios(results)
    names = [name for name, _ in rows]
    values = [value for _, value in rows]
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    colors = ["#c0504d" if name in REAL else "#4f81bd" for name in names]
    bars = ax.barh(range(len(rows)), values, color=colors)
    ax.set_yticks(range(len(rows)), names)
    ax.invert_yaxis()
    ax.axvline(1.0, color="#333333", linewidth=0.8)
    ax.set_xlabel("Flask µs / erlen µs (higher is faster; 1 = Flask)")
    ax.set_title("erlen vs Flask, same app, same run (red: real pages)")
    for bar, value in zip(bars, values, strict=True):
        ax.text(
            bar.get_width(),
            bar.get_y() + bar.get_height() / 2,
            f" {value:.1f}x",
            va="center",
            fontsize=8,
        )
    ax.set_xlim(0, max(values) * 1.15)
    fig.tight_layout()
    if path.endswith(".svg"):
        fig.savefig(path, format="svg", metadata={"Date": None})
    else:  # A PNG, to look at.
        fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def main() -> int:
    with open(RESULTS) as f:
        results = json.load(f)
    print(draw(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
