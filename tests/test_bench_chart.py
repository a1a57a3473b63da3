"""The benchmark page's chart is drawn from the results as an SVG."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.chart import RESULTS, draw, ratios


def test_chart_shows_every_measured_scenario(tmp_path: Path) -> None:
    results = json.loads(Path(RESULTS).read_text())
    rows = ratios(results)
    assert rows[0][0].startswith(("flaskr", "blog"))  # real pages first
    us = results["in_process"]["us"]
    for name, value in rows:
        assert value == us["flask"][name] / us["erlen"][name]
    svg = Path(draw(results, str(tmp_path / "chart.svg"))).read_text()
    assert svg.startswith("<?xml")
    for name, value in rows:
        assert f">{name}</text>" in svg
        assert f"{value:.1f}x</text>" in svg


def test_committed_page_embeds_the_chart() -> None:
    page = (Path(__file__).parent.parent / "docs" / "benchmarks.md").read_text()
    assert "](benchmarks.svg)" in page
    assert (Path(__file__).parent.parent / "docs" / "benchmarks.svg").exists()
