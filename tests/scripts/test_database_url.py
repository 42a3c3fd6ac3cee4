"""scripts/database_url.py: DATABASE_URL as the settings will see it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def database_url(env_file: Path | str, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    result = subprocess.run(
        [sys.executable, "scripts/database_url.py"],
        cwd=ROOT,
        env={**base, "DJANGO_ENV_FILE": str(env_file), **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def test_the_environment_wins_over_the_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DATABASE_URL=postgres://from-file/db\n")

    assert database_url(env_file) == "postgres://from-file/db\n"
    assert database_url(env_file, DATABASE_URL=" postgres://env/db ") == (
        "postgres://env/db\n"
    )


def test_no_env_file_and_no_variable_is_an_empty_line():
    assert database_url("") == "\n"
