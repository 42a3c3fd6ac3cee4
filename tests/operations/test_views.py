"""/healthz: the health check for probes, 200 or 503, with nothing secret."""

import socket

import pytest
from django.db import connection

from embedded_pg import CLUSTER_NAME

SECRET = "s3cret-never-shown"


@pytest.fixture(autouse=True)
def fresh_report(monkeypatch):
    # /healthz shares one answer for a second; each test asks anew.
    monkeypatch.setattr("operations.views._last", None)


@pytest.fixture
def database_down(db, monkeypatch):
    """Make the database unreachable for new connections in this test."""
    if connection.vendor == "postgresql":
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        changes = {"HOST": "127.0.0.1", "PORT": port, "PASSWORD": SECRET}
    else:
        changes = {"NAME": "/nonexistent/folder/db.sqlite3"}
    for key, value in changes.items():
        monkeypatch.setitem(connection.settings_dict, key, value)


def served_by_the_embedded_server() -> bool:
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('cluster_name')")
        return cursor.fetchone()[0] == CLUSTER_NAME


@pytest.mark.django_db
def test_healthz_is_200_with_the_database_in_use(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["healthy"] is True
    assert body["exit_code"] == 0
    assert body["database"]["vendor"] == connection.vendor
    # Truthful: make test's embedded server says so, another one does not.
    assert body["database"]["embedded"] is served_by_the_embedded_server()
    assert body["database"]["server_version"]
    assert body["checks"][0]["name"] == "connect"
    assert {check["status"] for check in body["checks"]} <= {"ok", "warn"}


@pytest.mark.django_db
def test_healthz_names_no_host_database_or_role(client):
    body = client.get("/healthz").content.decode()

    settings_dict = connection.settings_dict
    for private in (settings_dict["NAME"], settings_dict["USER"], "detail"):
        if private:
            assert private not in body
    assert set(client.get("/healthz").json()["checks"][0]) == {"name", "status", "ms"}


def test_healthz_is_503_when_the_database_is_down(client, database_down, caplog):
    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["healthy"] is False
    assert body["exit_code"] == 1
    assert body["checks"] == [
        {"name": "connect", "status": "fail", "ms": body["checks"][0]["ms"]}
    ]
    assert SECRET not in response.content.decode()
    # The reason is for the operator's log, not for whoever asked.
    assert "/healthz: unhealthy:" in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.django_db
def test_healthz_is_never_cached_and_takes_no_posts(client):
    assert "no-cache" in client.get("/healthz")["Cache-Control"]
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_a_burst_of_probes_costs_one_check(client, monkeypatch):
    from operations import health

    calls = []
    real = health.run_checks
    monkeypatch.setattr(
        health, "run_checks", lambda **kw: calls.append(1) or real(**kw)
    )

    statuses = {client.get("/healthz").status_code for _ in range(5)}

    assert statuses == {200}
    assert len(calls) == 1
