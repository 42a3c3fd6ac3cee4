"""scripts/squawk_migrations.py: squawk's findings fail unless acknowledged."""

import sys

import pytest

from tests.utils import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

import squawk_migrations  # noqa: E402


def finding(migration, rule, line=3):
    return {
        "migration": migration,
        "rule_name": rule,
        "line": line,
        "message": "Missing `set lock_timeout`",
    }


def test_every_acknowledgement_says_why():
    acknowledged = squawk_migrations.load_acknowledged()

    assert acknowledged
    assert all(len(why) > 20 for why in acknowledged.values())


def test_an_acknowledged_finding_passes():
    acknowledged = {("tasks.0001_initial", "require-lock-timeout"): "new table"}

    problems = squawk_migrations.judge(
        [finding("tasks.0001_initial", "require-lock-timeout")], acknowledged
    )

    assert problems == []


def test_a_new_finding_fails_with_one_line_each():
    problems = squawk_migrations.judge(
        [
            finding("tasks.0009_new", "require-lock-timeout", line=3),
            finding("tasks.0009_new", "require-lock-timeout", line=3),
        ],
        {},
    )

    assert problems == [
        "tasks.0009_new:3: require-lock-timeout: Missing `set lock_timeout`"
    ]


def test_a_stale_acknowledgement_fails():
    acknowledged = {("tasks.0001_initial", "prefer-text-field"): "varchar(200)"}

    problems = squawk_migrations.judge([], acknowledged)

    assert problems == [
        "tasks.0001_initial: prefer-text-field is acknowledged in "
        "acknowledged.toml but squawk no longer reports it; remove the entry"
    ]


def test_an_acknowledgement_without_a_reason_is_refused(tmp_path):
    path = tmp_path / "acknowledged.toml"
    path.write_text(
        '[[acknowledged]]\nmigration = "tasks.0001_initial"\nrule = "x"\nwhy = ""\n'
    )

    with pytest.raises(ValueError, match="tasks.0001_initial x says no why"):
        squawk_migrations.load_acknowledged(path)


@pytest.mark.django_db
def test_only_the_projects_own_migrations_are_linted():
    apps = {app_label for app_label, _name in squawk_migrations.project_migrations()}

    # Not Django's own apps, wherever the virtualenv that holds them lives.
    assert apps == {"accounts", "tasks"}
