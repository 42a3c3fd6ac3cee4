"""Row-level security and the acting user on a real hot standby.

A throwaway primary of this module's own is migrated by its owner and
given two users' tasks; a streaming standby made from it with
pg_basebackup then serves reads as the runtime role, exactly as the
primary does: each user sees their own tasks, nobody sees anyone else's,
and no setting widens that.
"""

from __future__ import annotations

import time

import psycopg
import pytest

from accounts.models import User
from ownership.policies import (
    PROOF_SETTING,
    SCOPE_STAMP,
    STAFF_SETTING,
    SYSTEM_SETTING,
    TRANSACTION_SETTING,
    USER_SETTING,
)
from ownership.proofs import proof
from ownership.scope import ScopeConflict, acting_as
from tasks import services
from tasks.models import Task
from tests.standbys import DATABASE, migrated_primary, runtime_url, settings_for
from tests.utils import default_database

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def primary(django_db_blocker):
    """A migrated primary with alice's 2 tasks and bob's 3."""
    with migrated_primary(django_db_blocker) as cluster:
        with (
            django_db_blocker.unblock(),
            default_database(settings_for(cluster)),
        ):
            alice = User.objects.get(username="alice")
            bob = User.objects.get(username="bob")
            for n in range(2):
                services.create_task(alice, title=f"alice {n}")
            for n in range(3):
                services.create_task(bob, title=f"bob {n}")
        yield cluster


@pytest.fixture(scope="module")
def standby(primary):
    with primary.standby() as standby:
        yield standby


@pytest.fixture
def on_standby(standby, django_db_blocker):
    """The default database is the standby, as the runtime role."""
    with (
        django_db_blocker.unblock(),
        default_database(settings_for(standby, owner=False)),
    ):
        yield User.objects.get(username="alice"), User.objects.get(username="bob")


def test_the_standby_is_a_streaming_hot_standby(standby):
    with psycopg.connect(standby.url(DATABASE), autocommit=True) as conn:
        in_recovery = conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nothing (id int)")

    assert in_recovery is True


def test_each_user_reads_only_their_own_tasks_on_the_standby(on_standby):
    alice, bob = on_standby

    assert sorted(t.title for t in services.get_tasks(alice)) == ["alice 0", "alice 1"]
    assert services.count_tasks(bob) == (3, 0)
    with acting_as(alice):
        assert {t.owner_id for t in Task.objects.all()} == {alice.pk}


def test_a_nested_scope_of_another_user_is_refused_on_the_standby(on_standby):
    alice, bob = on_standby

    with acting_as(alice), pytest.raises(ScopeConflict):
        services.count_tasks(bob)


@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_without_a_scope_the_standby_shows_nothing(on_standby):
    assert Task.objects.count() == 0


def test_no_setting_widens_what_the_runtime_role_sees_on_the_standby(
    on_standby, standby
):
    alice, _ = on_standby
    with psycopg.connect(runtime_url(standby), autocommit=True) as conn:
        for name in (USER_SETTING, SYSTEM_SETTING, STAFF_SETTING):
            for local in (False, True):
                with conn.transaction():
                    conn.execute("SELECT set_config(%s, %s, %s)", [name, "on", local])
                    conn.execute(
                        "SELECT set_config(%s, %s, %s)", [name, str(alice.pk), local]
                    )
                    seen = conn.execute("SELECT count(*) FROM tasks_task").fetchone()
                assert seen == (0,), (name, local)


def test_a_write_on_the_primary_reaches_the_standby(primary, standby, on_standby):
    alice, _ = on_standby
    with psycopg.connect(primary.url(DATABASE), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) VALUES ('replicated', '', false, now(), now(), %s)",
            [alice.pk],
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if services.get_tasks(alice).filter(title="replicated").exists():
            break
        time.sleep(0.05)

    assert services.get_tasks(alice).filter(title="replicated").count() == 1


def test_only_the_applications_proof_names_a_user_on_the_standby(on_standby, standby):
    alice, _ = on_standby
    alices = sum(services.count_tasks(alice))
    set_scope = (
        f"SELECT set_config('{USER_SETTING}', %s, true), "
        f"set_config('{PROOF_SETTING}', %s, true), "
        f"set_config('{TRANSACTION_SETTING}', {SCOPE_STAMP}, true)"
    )
    with psycopg.connect(runtime_url(standby), autocommit=True) as conn:
        pid = conn.info.backend_pid
        seen = {}
        for name, signed in [
            ("forged", ""),
            ("another backend's", proof(alice.pk, "", pid + 1)),
            ("expired", proof(alice.pk, "", pid, now=time.time() - 300)),
            ("the application's", proof(alice.pk, "", pid)),
        ]:
            with conn.transaction():
                conn.execute(set_scope, [str(alice.pk), signed])
                (seen[name],) = conn.execute(
                    "SELECT count(*) FROM tasks_task"
                ).fetchone()

    assert seen == {
        "forged": 0,
        "another backend's": 0,
        "expired": 0,
        "the application's": alices,
    }
    assert alices >= 2
