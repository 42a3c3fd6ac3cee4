"""/healthz and /livez: the probes, with nothing secret.

/healthz is the readiness probe (200 or 503, after the database's checks);
/livez the liveness probe, which never touches the database.
"""

import socket

import pytest
from django.db import connection
from prometheus_client.openmetrics.parser import text_string_to_metric_families

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


def test_livez_is_200_without_touching_the_database(
    client, database_down, django_assert_num_queries
):
    with django_assert_num_queries(0):
        response = client.get("/livez")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"ok\n"
    assert "no-cache" in response["Cache-Control"]


def test_livez_needs_no_database_access_at_all(client):
    # No db fixture: pytest-django fails any query, even a connection.
    assert client.get("/livez").status_code == 200
    assert client.head("/livez").status_code == 200
    assert client.post("/livez").status_code == 405


def test_probes_are_exempt_from_the_https_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/livez").status_code == 200
    assert client.get("/admin/").status_code == 301


def openmetrics_families(response) -> dict:
    """Parse an OpenMetrics answer with Prometheus's own parser, by name."""
    assert response["Content-Type"] == (
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    )
    text = response.content.decode()
    assert text.endswith("# EOF\n")
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples(family) -> dict:
    return {
        tuple(sorted(sample.labels.items())): sample.value for sample in family.samples
    }


@pytest.mark.django_db
def test_healthz_as_openmetrics_reports_every_check(client):
    checks = client.get("/healthz").json()["checks"]

    response = client.get("/healthz?format=openmetrics")

    assert response.status_code == 200
    families = openmetrics_families(response)
    assert families["todoproject_health_healthy"].type == "gauge"
    assert samples(families["todoproject_health_healthy"]) == {(): 1.0}
    assert samples(families["todoproject_health_exit_code"]) == {(): 0.0}
    status = samples(families["todoproject_health_check_status"])
    durations = samples(families["todoproject_health_check_duration_seconds"])
    assert families["todoproject_health_check_duration_seconds"].unit == "seconds"
    assert {labels[0][1] for labels in durations} == {c["name"] for c in checks}
    for check in checks:
        for value in ("ok", "warn", "fail"):
            expected = float(check["status"] == value)
            assert status[(("check", check["name"]), ("status", value))] == expected
        assert durations[(("check", check["name"]),)] >= 0
    (round_trip,) = samples(
        families["todoproject_health_database_round_trip_seconds"]
    ).values()
    assert 0 < round_trip < 3
    info = families["todoproject_health_database"]
    assert info.type == "info"
    assert info.samples[0].labels["vendor"] == connection.vendor
    assert "todoproject_database_connection_open" in families


@pytest.mark.django_db
def test_healthz_as_openmetrics_names_no_host_database_or_role(client):
    body = client.get("/healthz?format=openmetrics").content.decode()

    settings_dict = connection.settings_dict
    for private in (settings_dict["NAME"], settings_dict["USER"]):
        if private:
            assert private not in body
    if settings_dict.get("HOST"):
        assert settings_dict["HOST"] not in body


def test_healthz_as_openmetrics_is_200_with_healthy_0_when_the_database_is_down(
    client, database_down
):
    response = client.get("/healthz?format=openmetrics")

    # A failed scrape would drop the metrics an alert needs.
    assert response.status_code == 200
    families = openmetrics_families(response)
    assert samples(families["todoproject_health_healthy"]) == {(): 0.0}
    assert samples(families["todoproject_health_exit_code"]) == {(): 1.0}
    status = samples(families["todoproject_health_check_status"])
    assert status[(("check", "connect"), ("status", "fail"))] == 1.0
    assert "todoproject_health_database_round_trip_seconds" not in families
    assert SECRET not in response.content.decode()


def test_healthz_refuses_an_unknown_format_in_one_line(client):
    response = client.get("/healthz?format=xml")

    assert response.status_code == 400
    assert response.content == (
        b"unknown format 'xml'; use format=json or format=openmetrics\n"
    )


@pytest.mark.postgresql
@pytest.mark.django_db
def test_openmetrics_reports_the_pool_when_there_is_one(monkeypatch):
    from operations.health.metrics import openmetrics
    from operations.health.report import Report

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
    monkeypatch.setitem(
        connection.settings_dict,
        "OPTIONS",
        {**connection.settings_dict["OPTIONS"], "pool": {"min_size": 1, "max_size": 3}},
    )
    try:
        text = openmetrics(
            Report(alias="default", vendor="postgresql", embedded=False), connection
        ).decode()
    finally:
        connection.close_pool()

    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert samples(families["todoproject_database_pool_max"]) == {(): 3.0}
    assert samples(families["todoproject_database_pool_min"]) == {(): 1.0}
    assert "todoproject_database_pool_available" in families
    assert "todoproject_database_connection_open" not in families


def test_openmetrics_reports_each_replica_by_its_alias():
    from operations.health.metrics import openmetrics
    from operations.health.report import Check, ReplicaStatus, Report, Status

    report = Report(
        alias="default",
        vendor="postgresql",
        embedded=False,
        checks=[Check("connect", Status.OK, "connected to db.example:5432", 1.0)],
        replicas=[
            ReplicaStatus("replica_1", Status.OK, "replaying", True, True, 2048, 0.5),
            ReplicaStatus("replica_2", Status.FAIL, "unreachable: refused", False),
        ],
    )

    text = openmetrics(report).decode()

    families = {f.name: f for f in text_string_to_metric_families(text)}
    status = samples(families["todoproject_health_replica_status"])
    assert {key: value for key, value in status.items() if value} == {
        (("replica", "replica_1"), ("status", "ok")): 1.0,
        (("replica", "replica_2"), ("status", "fail")): 1.0,
    }
    assert len(status) == 6
    assert families["todoproject_health_replica_lag_seconds"].unit == "seconds"
    assert samples(families["todoproject_health_replica_lag_seconds"]) == {
        (("replica", "replica_1"),): 0.5
    }
    assert samples(families["todoproject_health_replica_lag_bytes"]) == {
        (("replica", "replica_1"),): 2048.0
    }
    # A replica's failure is a warning: the service stays healthy.
    assert samples(families["todoproject_health_healthy"]) == {(): 1.0}
    assert "db.example" not in text
    assert "refused" not in text


@pytest.mark.django_db
def test_openmetrics_has_no_replica_families_without_replicas(client):
    families = openmetrics_families(client.get("/healthz?format=openmetrics"))

    assert not [name for name in families if "replica" in name]
