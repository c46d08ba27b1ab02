"""The benchmarks run, on small sizes: their figures are for people, not for CI."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "arguments", "figures"),
    [
        (
            "bench/ingest.py",
            ["--records", "2000", "--baseline-records", "500"],
            [
                "API (COPY through a temp table)",
                "raw COPY, same table",
                "plain DRF ModelSerializer",
                "API / raw COPY",
                "API / plain DRF",
            ],
        ),
        (
            "bench/detect.py",
            ["--decisions", "3000", "--scored", "1000", "--batches", "2"],
            [
                "through feature scoring and rules",
                "processed end to end",
                "ingestion to flags, one worker",
            ],
        ),
        (
            "bench/explorer.py",
            ["--decisions", "5000", "--repeat", "2"],
            [
                "loaded 5,000 decisions",
                "default (newest first)",
                "q=reconciliation (~1% of prompts)",
                "default, page 2",
                "sort=confidence desc",
                "against the 200 ms target",
            ],
        ),
        (
            "bench/dashboard.py",
            ["--decisions", "5000", "--repeat", "2"],
            [
                "Dashboard benchmark: 5,000 decisions over 90 days",
                "rollups built from scratch: 92 days, 5,000 decisions",
                "30 days of cost by day and tier",
                "default: last 30 days",
                "90 days, tier=large & category=code",
                "against the 300 ms target",
            ],
        ),
        (
            "bench/export.py",
            ["--decisions", "3000"],
            [
                "Export benchmark: 3,000 labelled decisions",
                "rows/s",
                "worker peak MB",
                "jsonl worker peak from 600 to 3,000 decisions",
                "against the 300 MB target",
            ],
        ),
    ],
)
def test_the_benchmark_runs_and_prints_its_figures(script, arguments, figures):
    result = subprocess.run(
        [sys.executable, script, *arguments, "--database", "routing_review_bench_ci"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for figure in figures:
        assert figure in result.stdout
