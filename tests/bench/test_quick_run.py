"""make bench ARGS=--quick end to end, on a tiny size, against the test server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.utils import ROOT

pytestmark = pytest.mark.postgresql

TASK_SERVICES = [
    "get_tasks",
    "get_task",
    "count_tasks",
    "create_task",
    "update_task",
    "toggle_complete",
    "delete_task",
]


def test_quick_run_times_every_side_at_both_rtts_and_judges_nothing(tmp_path):
    url = os.environ.get("TEST_SUPERUSER_DATABASE_URL")
    if not url:
        pytest.fail("TEST_SUPERUSER_DATABASE_URL is not set; run by scripts/test.sh")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.benchmark",
            "--quick",
            "--users",
            "3",
            "--tasks-per-user",
            "20",
            "--calls",
            "5",
            "--services-only",
            "--results",
            str(tmp_path),
        ],
        cwd=ROOT,
        env={**os.environ, "BENCH_DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--quick judges nothing" in result.stdout
    assert "targets met" not in result.stdout
    assert "MISSED" not in result.stdout
    report = json.loads((tmp_path / "latest.json").read_text())
    assert [run["rtt_ms"] for run in report["runs"]] == [0.0, 1.0]
    for run in report["runs"]:
        rows = {row["operation"]: row for row in run["services"]}
        assert list(rows) == [*TASK_SERVICES, "delete_user"]
        for name in TASK_SERVICES:
            assert rows[name]["round_trips"]["ours"] == 1, name
            assert rows[name]["round_trips"]["django_peer"] >= 3, name
            assert rows[name]["ours_plain"] > 0
        assert rows["toggle_complete"]["statements"]["ours"] == [
            "set_config",
            "UPDATE",
        ]
