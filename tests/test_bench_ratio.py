"""A short run of the benchmark harness: erlen must answer exactly like Flask
and must not be slower than Flask in any scenario.

This compares two frameworks measured in the same run, not a time against a
threshold. The margin is wide so that noise on a shared machine cannot fail
it: erlen fails only when it is clearly slower than Flask (by more than half
again), while it is normally several times faster; scenarios dominated by
Werkzeug's own parsing (the 1 MB upload) run at about Flask's speed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARGIN = 1.5


def test_erlen_matches_flask_and_is_not_slower(tmp_path: Path) -> None:
    out = tmp_path / "quick.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.run",
            "--quick",
            "--frameworks",
            "erlen,flask",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.exists(), proc.stderr
    results = json.loads(out.read_text())
    assert results["mismatches"] == [], results["mismatches"]
    assert proc.returncode == 0, proc.stderr
    us = results["in_process"]["us"]
    assert set(us["erlen"]) == set(us["flask"]) == set(results["scenarios"])
    slower = {
        name: (us["erlen"][name], us["flask"][name])
        for name in results["scenarios"]
        if us["erlen"][name] > MARGIN * us["flask"][name]
    }
    assert not slower, f"erlen slower than Flask (erlen µs, Flask µs): {slower}"
    # Where erlen's design applies, it must be far ahead, not merely level.
    for name in ("text", "json", "route100", "404"):
        assert us["flask"][name] > 3 * us["erlen"][name], (name, us)
