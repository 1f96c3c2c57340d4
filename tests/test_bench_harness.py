"""bench/run.py, the benchmark harness, in a tiny run: it still runs every scenario, checks every
run and writes its results. Nothing here is about speed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).parent.parent / "bench" / "run.py"
FIELDS = {"scenario", "system", "msgs_per_s", "cpu_s_per_million", "peak_rss_mb", "lost"}


@pytest.mark.skipif(shutil.which("gcc") is None, reason="the harness builds its C peer with gcc")
def test_harness_tiny_run_writes_its_results(tmp_path):
    # a matplotlib that cannot be imported, whether or not one is installed: the chart is skipped
    shim = tmp_path / "shim" / "matplotlib"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError('not here')\n")
    out = tmp_path / "results.json"
    r = subprocess.run([sys.executable, str(RUN), "--messages", "2000", "--repeat", "1",
                        "--systems", "ours", "ceiling", "writer", "python", "--senders", "2", "--sizes", "1000",
                        "--json", str(out)],
                       capture_output=True, text=True, timeout=100, env={**os.environ, "PYTHONPATH": str(shim.parent)})
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "chart skipped: matplotlib is not installed" in r.stdout
    assert not (tmp_path / "results.png").exists()

    doc = json.loads(out.read_text())
    rows = doc["rows"]
    main = {(row["scenario"], row["system"]) for row in rows if row["table"] == "main"}
    for scenario in ("aggregator_pull", "aggregator_sub", "distributor", "worker", "stdin", "handler"):
        assert {(scenario, s) for s in ("ours", "ceiling", "python")} <= main
        assert ((scenario, "writer") in main) == scenario.startswith("aggregator")
    assert not any(row["system"] == "perl" for row in rows)
    scaling = {(row["senders"], row["size"], row["system"]) for row in rows if row["table"] == "scaling"}
    assert scaling == {(n, size, s) for n, size in ((2, None), (1, 1000)) for s in ("ours", "ceiling", "writer", "python")}
    for row in rows:
        assert FIELDS <= row.keys()
        assert row["failed_runs"] == [], row
        assert row["msgs_per_s"] > 0 and row["cpu_s_per_million"] >= 0 and row["peak_rss_mb"] > 0, row
        assert row["lost"] == 0 or row["scenario"] in ("aggregator_sub", "distributor"), row
    assert {g["goal"] for g in doc["goals"]} >= {"aggregator_pull: ours / ceiling", "worker: ours / python"}
    table = (tmp_path / "results.md").read_text()
    assert "| aggregator_pull | ours |" in table and "How cost grows" in table


@pytest.mark.parametrize("args, named", [
    (["--messages", "0"], "--messages"),
    (["--repeat", "-1"], "--repeat"),
    (["--senders", "0"], "--senders"),
    (["--sizes", "0"], "--sizes"),
    (["--messages", "many"], "--messages"),
    (["--json", "/nonexistent/dir/x.json"], "--json"),
])
def test_harness_refuses_impossible_arguments_before_it_runs(args, named):
    r = subprocess.run([sys.executable, str(RUN), "--quick", *args], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and named in r.stderr.splitlines()[-1], r.stderr
    assert r.stdout == ""  # nothing measured
