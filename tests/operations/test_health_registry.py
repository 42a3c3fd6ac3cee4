"""The health checks' registry: each app's checks, in order, and extensible."""

import ast
import re
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connection

import embedded_pg
from operations.health.checks import EMBEDDED_CLUSTER_NAME
from ownership import health
from ownership.health import CheckResult, HealthCheck
from tests.operations.test_healthcheck import expected_healthy_lines, healthcheck, lines

ROOT = Path(__file__).resolve().parents[2]


def registered(vendor, target=health.DATABASE):
    checks = health.checks(vendor, target)
    return {check.name: type(check).__module__ for check in checks}


def test_each_app_registers_its_own_checks_in_order():
    assert list(registered("postgresql").items()) == [
        ("round trip", "operations.health.checks"),
        ("server", "operations.health.checks"),
        ("ssl", "operations.health.checks"),
        ("migrations", "operations.health.checks"),
        ("cascade", "tasks.posture"),
        ("row security", "tasks.posture"),
        ("role", "tasks.posture"),
        ("definitions", "operations.health.checks"),
        ("role config", "ownership.posture"),
        ("scope proof", "ownership.posture"),
    ]
    assert list(registered("sqlite")) == [
        "round trip",
        "server",
        "migrations",
        "isolation",
    ]
    assert registered("postgresql", health.REPLICA) == {"replay": "replicas.health"}


@pytest.fixture
def register():
    """Register check classes for one test; unregister them afterwards."""
    added = []

    def add(check):
        added.append(health.register(check))
        return check

    yield add
    for check in added:
        health.unregister(check)


class ExtraCheck(HealthCheck):
    name = "extra"
    order = 45

    def run(self, context):
        with context.connection.cursor() as cursor:
            cursor.execute("SELECT 2")
            (two,) = cursor.fetchone()
        return CheckResult.ok(f"SELECT {two} on {context.where}")


@pytest.mark.django_db
def test_a_registered_check_runs_in_its_place(register):
    register(ExtraCheck)

    code, out, _ = healthcheck()

    expected = expected_healthy_lines()
    where = expected[1].split("connected to ")[1]
    migrations = next(i for i, line in enumerate(expected) if "all applied" in line)
    expected.insert(migrations + 1, f"extra  ok  N ms  SELECT 2 on {where}")
    # The columns widen to the longest name; compare without the padding.
    assert code == 0
    assert [re.sub(r" {2,}", "  ", line) for line in lines(out)] == [
        re.sub(r" {2,}", "  ", line) for line in expected
    ]


class BrokenQueryCheck(HealthCheck):
    name = "broken query"
    order = 15

    def run(self, context):
        raise DatabaseError("the server went away\nsecond line")


@pytest.mark.django_db
def test_a_check_whose_query_fails_is_unreachable_and_ends_the_run(register):
    register(BrokenQueryCheck)

    code, out, reason = healthcheck()

    assert (code, reason) == (1, "query failed: the server went away")
    assert lines(out)[-1] == (
        "broken query  FAIL  N ms  query failed: the server went away"
    )


def test_two_checks_of_one_name_are_refused(register):
    class Impostor(HealthCheck):
        name = "cascade"
        order = 1

    with pytest.raises(ImproperlyConfigured, match="two health checks are named"):
        register(Impostor)


def test_registering_a_check_again_changes_nothing():
    before = registered(connection.vendor)
    (check, *_) = health.checks(connection.vendor)

    health.register(type(check))

    assert registered(connection.vendor) == before


def test_a_check_without_an_order_is_refused():
    class Unordered(HealthCheck):
        name = "unordered"

    with pytest.raises(ImproperlyConfigured, match="Unordered has no order"):
        health.register(Unordered)


def project_imports(path: Path) -> set[str]:
    """Return the modules that `path` imports, relative ones made absolute."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_operations_health_imports_no_module_of_its_own_in_a_circle():
    folder = ROOT / "operations" / "health"
    modules = {f"operations.health.{p.stem}": p for p in folder.glob("[!_]*.py")}
    graph = {
        name: project_imports(path) & modules.keys() for name, path in modules.items()
    }

    def reaches(start, goal, seen=()):
        return any(
            step == goal or (step not in seen and reaches(step, goal, (*seen, step)))
            for step in graph[start]
        )

    assert [name for name in graph if reaches(name, name)] == []


def test_the_registry_and_the_apps_checks_import_nothing_above_them():
    layers = {
        "ownership/health.py": set(),
        "ownership/posture.py": {"ownership"},
        "tasks/posture.py": {"ownership", "tasks"},
        "replicas/health.py": {"ownership", "replicas"},
    }
    project = {"accounts", "operations", "ownership", "replicas", "tasks"}
    project |= {"todoproject", "embedded_pg", "bench", "scripts"}
    for path, allowed in layers.items():
        used = {module.split(".")[0] for module in project_imports(ROOT / path)}
        assert used & project <= allowed, path


def test_no_module_of_operations_imports_the_development_launcher():
    importers = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "operations").rglob("*.py")
        if any(m.split(".")[0] == "embedded_pg" for m in project_imports(path))
    ]

    assert importers == []


def test_the_embedded_cluster_name_is_the_one_the_launcher_sets():
    assert EMBEDDED_CLUSTER_NAME == embedded_pg.CLUSTER_NAME
