"""The ``url_for`` and template-rows benchmarks measure what they claim.

No time or ratio is asserted (``make bench`` measures those). Checked: a tiny
run of each section completes in its subprocesses, erlen's ``url_for`` gives
exactly Flask's URLs for every form, the rows page renders the same on stock
Jinja2, erlen's FastEnvironment and both frameworks' ``render_template``, the
routes-scaling script builds the last endpoint's URL, and the page renders
these sections from the results.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2
import pytest

from benchmarks import micro as micro_worker
from benchmarks.run import (
    SCALING,
    _env,
    micro,
    micro_mismatches,
    render_micro,
    render_scaling,
)
from erlen.jinja import FastEnvironment

ROOT = Path(__file__).resolve().parent.parent
URLS = {
    "url_for/static": "/",
    "url_for/int": "/blog/7/update",
    "url_for/relative": "/blog/7/update",
    "url_for/query": "/?page=2&q=a+b",
    "url_for/external": "http://localhost/blog/7/update",
    "url_for/anchor": "/blog/7/update#c",
}


def python(*args: str) -> subprocess.CompletedProcess[str]:
    """``python ARGS...`` as the benchmark runs it, bounded, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    return micro(rounds=1, n=20)


def test_url_for_forms_give_flasks_urls(tiny: dict[str, Any]) -> None:
    assert tiny["mismatches"] == []
    outputs = tiny["outputs"]
    for fw in ("erlen", "flask"):
        got = {k: v for k, v in outputs[fw].items() if k in URLS}
        assert got == URLS, fw
        loop = outputs[fw]["url_for/template"]
        assert loop == "".join(f"/blog/{i}/update" for i in range(100)), fw
    keys = {f"url_for/{form}" for form in micro_worker.URL_FORMS}
    keys |= {"url_for/template", "url_for/template_render", "url_for/template_plain"}
    keys |= {f"render/{r}" for r in micro_worker.ROWS}
    for fw in ("erlen", "flask"):
        assert set(tiny["us"][fw]) == keys, fw
        assert all(v > 0 for v in tiny["us"][fw].values()), fw
    assert set(tiny["us"]["jinja"]) == {
        f"{kind}/{r}" for kind in ("jinja2", "fast") for r in micro_worker.ROWS
    }


def test_every_renderer_gives_the_same_page(tiny: dict[str, Any]) -> None:
    outputs = tiny["outputs"]
    for r in micro_worker.ROWS:
        digests = {
            outputs["jinja"][f"jinja2/{r}"],
            outputs["jinja"][f"fast/{r}"],
            outputs["erlen"][f"render/{r}"],
            outputs["flask"][f"render/{r}"],
        }
        assert len(digests) == 1, r
    sizes = {outputs["jinja"][f"jinja2/{r}"] for r in micro_worker.ROWS}
    assert len(sizes) == len(micro_worker.ROWS)  # different pages per size


def test_rows_page_escapes_filters_and_counts() -> None:
    loader = jinja2.FileSystemLoader(micro_worker.TEMPLATES)
    for env in (
        jinja2.Environment(loader=loader, autoescape=True),
        FastEnvironment(loader=loader, autoescape=True),
    ):
        page = env.get_template("rows.html").render(rows=micro_worker.rows(3))
        assert page.count("<tr>") == 3
        assert "<td>3</td><td>&lt;user 2&gt;</td>" in page  # loop.index, escaped
        assert "<td>Author 2</td><td>POST 2 &amp; MORE</td>" in page


def test_page_renders_the_micro_sections(tiny: dict[str, Any]) -> None:
    lines = render_micro(tiny)
    page = "\n".join(lines)
    assert "## `url_for`, µs per call" in page
    assert "## Template rendering vs number of rows" in page
    assert page.count("**all identical**") == 2
    assert '| `url_for(".update", id=7)` in the blueprint |' in page
    assert "| `erlen.jinja.FastEnvironment` |" in page
    assert "| erlen `render_template` |" in page


def test_mismatches_are_reported() -> None:
    outputs = {
        "erlen": {"url_for/int": "/blog/8/update", "render/10": "aa"},
        "flask": {"url_for/int": "/blog/7/update", "render/10": "bb"},
        "jinja": {"jinja2/10": "bb", "fast/10": "cc"},
    }
    bad = micro_mismatches(outputs)
    assert len(bad) == 3
    assert bad[0].startswith("url_for/int: erlen '/blog/8/update'")
    assert "10 rows: erlen page differs from jinja2's" in bad
    assert "10 rows: fast page differs from jinja2's" in bad
    page = "\n".join(
        render_micro({"sections": ["url_for"], "us": {}, "mismatches": bad})
    )
    assert "MISMATCHES: url_for/int" in page


@pytest.mark.parametrize("framework", ["erlen", "flask"])
def test_scaling_script_builds_the_last_endpoint(framework: str) -> None:
    got = {}
    for kind in ("static", "dynamic"):
        proc = python("-c", SCALING, framework, "10", kind)
        assert proc.returncode == 0, proc.stderr
        got[f"{framework}/{kind}/10"] = json.loads(proc.stdout)
        assert set(got[f"{framework}/{kind}/10"]) == {
            "build_ms",
            "match_us",
            "url_for_us",
        }
    table = render_scaling(got)
    assert table[6].endswith("| match µs | url_for µs |")
    assert len([line for line in table if line.startswith(f"| {framework} |")]) == 2


def test_only_micro_prints_just_those_sections(tmp_path: Path) -> None:
    out = tmp_path / "micro.json"
    proc = python(
        *("-m", "benchmarks.run", "--only", "micro", "--rounds", "1"),
        *("--requests", "20", "--json", str(out)),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("## `url_for`, µs per call")
    assert "## Bare routes" not in proc.stdout
    assert set(json.loads(out.read_text())) == {"micro"}
