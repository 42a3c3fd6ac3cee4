"""scripts/browser.sh and `scripts/pgbouncer.sh check`: a missing program.

Outside CI a leg whose program is missing is left out (exit 3, one line on
stdout naming the install command); with CI=true it is an error (exit 1).
PATH holds only what the scripts need, so apt-get cannot install anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

BROWSER = ["bash", "scripts/browser.sh"]
PGBOUNCER = ["bash", "scripts/pgbouncer.sh", "check"]


@pytest.fixture
def bare_path(tmp_path):
    """Return a PATH with the few tools the scripts use and no others."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "id", "dirname"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    return str(bin_dir)


def run(command, bare_path, **env):
    base = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CI", "CHROMIUM", "CHROMEDRIVER", "PGBOUNCER")
    }
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**base, "PATH": bare_path, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


MISSING = {
    "CHROMIUM": "/nonexistent/chromium",
    "CHROMEDRIVER": "/nonexistent/chromedriver",
    "PGBOUNCER": "/nonexistent/pgbouncer",
}


@pytest.mark.parametrize(
    ("command", "line"),
    [
        (
            BROWSER,
            "not run: the browser test (tests/e2e/): Chromium is missing; install "
            "it with: sudo apt-get install chromium chromium-driver (Debian, "
            "Ubuntu; elsewhere your package manager's Chromium and ChromeDriver)\n",
        ),
        (
            PGBOUNCER,
            "not run: the tests through PgBouncer (isolation, replica routing): "
            "pgbouncer is missing; install it with: sudo apt-get install pgbouncer "
            "(Debian, Ubuntu; macOS: brew install pgbouncer)\n",
        ),
    ],
)
def test_a_missing_program_outside_ci_leaves_its_leg_out_in_one_line(
    command, line, bare_path
):
    result = run(command, bare_path, **MISSING)

    assert result.returncode == 3, result.stderr
    assert result.stdout == line
    assert result.stderr == ""


@pytest.mark.parametrize("command", [BROWSER, PGBOUNCER])
def test_a_missing_program_in_ci_is_an_error(command, bare_path):
    result = run(command, bare_path, CI="true", **MISSING)

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert "is missing" in result.stderr
    assert len(result.stderr.splitlines()) == 1


@pytest.mark.parametrize("ci", [{}, {"CI": "true"}])
@pytest.mark.parametrize("command", [BROWSER, PGBOUNCER])
def test_a_program_that_is_there_runs_its_leg(command, ci, bare_path, tmp_path):
    present = tmp_path / "program"
    present.write_text("#!/bin/sh\n")
    present.chmod(0o755)

    result = run(
        command,
        bare_path,
        CHROMIUM=str(present),
        CHROMEDRIVER=str(present),
        PGBOUNCER=str(present),
        **ci,
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
