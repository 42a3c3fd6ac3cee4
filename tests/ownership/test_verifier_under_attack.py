"""The verifier without SET search_path (tasks/0011), under attack.

An attacker's review of ``todoproject_acting_user()`` and
``todoproject_system_may()``, kept as tests. Each runs as the runtime role
with plain psycopg, as a statement injected into alice's request would,
and asserts the secure outcome: the verifier names nobody (never bob,
never an error), the system policy stays closed, and alice's own proof
still works. The worst case gives the runtime role what production denies
it (temporary objects, a schema of its own before pg_catalog) and fills
them with look-alikes of every name the functions use, each of which
raises if it is ever resolved.
"""

import time

import pytest
from django.db import connection
from psycopg import errors

from ownership.policies import SYSTEM_SETTING
from ownership.proofs import pads, proof, scope_key
from tests.utils import connect

from . import test_proofs
from .test_proofs import SET_SCOPE, owners_seen, pid_of, scope_params

# test_proofs.py's fixtures.
alice_and_bob = test_proofs.alice_and_bob
runtime = test_proofs.runtime

pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.isolation,
    pytest.mark.django_db(transaction=True),
]

HOSTILE_PATH = "pg_temp, look_alike, pg_catalog, public"


def acting(conn):
    return conn.execute("SELECT todoproject_acting_user()").fetchone()[0]


def set_scope(conn, user_id, signed, staff="", path=None):
    """Set the scope as the application does; then `path`, if any.

    SET_SCOPE's own SQL is unqualified: it runs under the ordinary path,
    and the verifier then runs under the attacker's.
    """
    if path:
        conn.execute("SET LOCAL search_path = pg_catalog, public, pg_temp")
    conn.execute(SET_SCOPE.format(local="true"), scope_params(user_id, signed, staff))
    if path:
        conn.execute(f"SET LOCAL search_path = {path}")


# Every unqualified name the verifier or todoproject_system_may could
# resolve through a caller's search_path, as a look-alike that raises: if
# any of them is ever picked, the statement fails with 'hijacked'.
BOOM = "LANGUAGE plpgsql AS $$BEGIN RAISE EXCEPTION 'hijacked'; END$$"
LOOK_ALIKE_FUNCTIONS = [
    ("now()", "timestamptz"),
    ("current_setting(text, boolean)", "text"),
    ("string_to_array(text, text)", "text[]"),
    ("encode(bytea, text)", "text"),
    ("sha256(bytea)", "bytea"),
    ("convert_to(text, name)", "bytea"),
    ("extract(text, timestamptz)", "numeric"),
    ("date_part(text, timestamptz)", "double precision"),
    ("pg_backend_pid()", "integer"),
    ("cardinality(text[])", "integer"),
    ("getdatabaseencoding()", "name"),
    ("int8(text)", "bigint"),
    ("text(bigint)", "text"),
    ("textcat(text, text)", "text"),
    ('"coalesce"(text, text)', "text"),
    ("pg_has_role(name, oid, text)", "boolean"),
    ("pg_has_role(oid, oid, text)", "boolean"),
]
LOOK_ALIKE_OPERATORS = [
    ("=", "text", "text"),
    ("<>", "text", "text"),
    ("||", "text", "text"),
    ("||", "bytea", "bytea"),
    ("=", "bytea", "bytea"),
    ("*", "numeric", "integer"),
    ("*", "numeric", "numeric"),
    ("<=", "bigint", "numeric"),
    ("<=", "numeric", "numeric"),
    ("<>", "bigint", "integer"),
    ("<>", "bigint", "bigint"),
    ("<>", "integer", "integer"),
    (">", "timestamptz", "timestamptz"),
    ("=", "oid", "regclass"),
    ("=", "oid", "oid"),
]


@pytest.fixture
def hostile(superuser_cursor):
    """The worst case: the runtime role with TEMP and a schema of its own."""
    role = connection.settings_dict["USER"]
    database = connection.settings_dict["NAME"]
    superuser_cursor.execute(f'GRANT TEMPORARY ON DATABASE "{database}" TO "{role}"')
    superuser_cursor.execute(f'CREATE SCHEMA look_alike AUTHORIZATION "{role}"')
    try:
        with connect(connection.settings_dict, prepare_threshold=None) as conn:
            for signature, returns in LOOK_ALIKE_FUNCTIONS:
                conn.execute(
                    f"CREATE FUNCTION look_alike.{signature} RETURNS {returns} {BOOM}"
                )
            for n, (op, left, right) in enumerate(LOOK_ALIKE_OPERATORS):
                conn.execute(
                    f"CREATE FUNCTION look_alike.op{n}({left}, {right}) "
                    f"RETURNS boolean {BOOM}"
                )
                conn.execute(
                    f"CREATE OPERATOR look_alike.{op} (LEFTARG = {left}, "
                    f"RIGHTARG = {right}, FUNCTION = look_alike.op{n})"
                )
            # Types: a domain no value passes, where a type name could be
            # looked up (pg_temp gets one per test: see attacker_keys()).
            for name in ("text", "int8", "bigint"):
                conn.execute(
                    f'CREATE DOMAIN look_alike."{name}" AS pg_catalog.text '
                    "CHECK (VALUE IS NULL)"
                )
            conn.execute("CREATE TABLE look_alike.pg_class (oid oid, relowner oid)")
            yield conn
    finally:
        superuser_cursor.execute("DROP SCHEMA look_alike CASCADE")
        superuser_cursor.execute(
            f'REVOKE TEMPORARY ON DATABASE "{database}" FROM "{role}"'
        )


def attacker_keys(conn):
    """Key tables of the attacker's own key in pg_temp and look_alike."""
    secret = "the attacker's own secret"
    inner, outer = pads(scope_key(secret))
    for schema in ("pg_temp", "look_alike"):
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.todoproject_scope_key "
            "(fingerprint text, inner_pad bytea, outer_pad bytea, "
            "retire_at timestamptz)"
        )
        conn.execute(
            f"INSERT INTO {schema}.todoproject_scope_key VALUES ('x', %s, %s, NULL)",
            [inner, outer],
        )
    conn.execute("CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (VALUE IS NULL)")
    return secret


def drop_temporaries(conn):
    # In the same transaction: through PgBouncer in transaction mode, the
    # temporary objects stay on the server connection for other clients.
    conn.execute("DROP TABLE pg_temp.todoproject_scope_key")
    conn.execute("DROP TABLE look_alike.todoproject_scope_key")
    conn.execute("DROP DOMAIN pg_temp.text")


def test_no_look_alike_is_ever_resolved_and_a_real_proof_still_works(
    alice_and_bob, hostile, settings
):
    alice, bob = alice_and_bob
    conn = hostile
    with conn.transaction():
        secret = attacker_keys(conn)
        conn.execute(f"SET LOCAL search_path = {HOSTILE_PATH}")
        # The look-alikes are live: an unqualified name picks them.
        for probe in ("SELECT now()", "SELECT 'a'::pg_catalog.text = 'b'"):
            with pytest.raises(errors.RaiseException), conn.transaction():
                conn.execute(probe)
        # A real proof: alice, no error from any look-alike.
        set_scope(conn, alice.pk, proof(alice.pk, "", pid_of(conn)), path=HOSTILE_PATH)
        assert acting(conn) == alice.pk
        assert owners_seen(conn) == {alice.pk}
        # Bob, signed with the attacker's key that sits in pg_temp/look_alike.
        settings.SECRET_KEY = secret
        set_scope(conn, bob.pk, proof(bob.pk, "", pid_of(conn)), path=HOSTILE_PATH)
        assert acting(conn) is None
        assert owners_seen(conn) == set()
        # The system policy under the same search_path: closed, no error.
        conn.execute(f"SELECT set_config('{SYSTEM_SETTING}', 'on', true)")
        assert owners_seen(conn) == set()
        assert conn.execute(
            "SELECT todoproject_system_may('tasks_task'::regclass)"
        ).fetchone() == (False,)
        drop_temporaries(conn)


def test_plans_cached_under_one_search_path_are_not_fooled_by_another(
    alice_and_bob, hostile, settings
):
    alice, bob = alice_and_bob
    conn = hostile
    # Warm the verifier's plans (custom, then generic after five calls)
    # under the ordinary search_path, then switch in the same session.
    for _ in range(7):
        with conn.transaction():
            set_scope(conn, alice.pk, proof(alice.pk, "", pid_of(conn)))
            assert acting(conn) == alice.pk
    real_secret = settings.SECRET_KEY
    for _ in range(7):
        with conn.transaction():
            secret = attacker_keys(conn)
            conn.execute(f"SET LOCAL search_path = {HOSTILE_PATH}")
            settings.SECRET_KEY = secret
            set_scope(conn, bob.pk, proof(bob.pk, "", pid_of(conn)), path=HOSTILE_PATH)
            assert acting(conn) is None
            assert owners_seen(conn) == set()
            settings.SECRET_KEY = real_secret
            set_scope(
                conn, alice.pk, proof(alice.pk, "", pid_of(conn)), path=HOSTILE_PATH
            )
            assert acting(conn) == alice.pk
            drop_temporaries(conn)
    # And back: the ordinary path after the hostile one.
    with conn.transaction():
        set_scope(conn, alice.pk, proof(alice.pk, "", pid_of(conn)))
        assert acting(conn) == alice.pk
        assert owners_seen(conn) == {alice.pk}


def test_a_first_call_compiled_under_a_hostile_path_is_not_fooled(
    alice_and_bob, hostile, settings
):
    # The PL/pgSQL function is compiled (DECLARE types resolved) at its
    # first call in a session: make that first call the hostile one.
    alice, bob = alice_and_bob
    conn = hostile
    with conn.transaction():
        conn.execute(f"SET LOCAL search_path = {HOSTILE_PATH}")
        conn.execute(
            "CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (VALUE IS NULL)"
        )
        set_scope(conn, alice.pk, proof(alice.pk, "", pid_of(conn)), path=HOSTILE_PATH)
        assert acting(conn) == alice.pk
        set_scope(conn, bob.pk, proof(alice.pk, "", pid_of(conn)), path=HOSTILE_PATH)
        assert acting(conn) is None
        conn.execute("DROP DOMAIN pg_temp.text")


def test_a_proof_with_more_than_three_parts_is_nobody(alice_and_bob, runtime):
    alice, bob = alice_and_bob
    signed = proof(alice.pk, "", pid_of(runtime))
    with runtime.transaction():
        for user_id in (alice.pk, bob.pk):
            set_scope(runtime, user_id, signed + ":" + str(bob.pk))
            assert acting(runtime) is None
            assert owners_seen(runtime) == set()


def test_alices_proof_names_nobody_else_however_the_id_is_spelled(
    alice_and_bob, runtime
):
    alice, bob = alice_and_bob
    signed = proof(alice.pk, "", pid_of(runtime))
    expiry, pid, mac = signed.split(":")
    spellings = [
        f" {alice.pk}",
        f"{alice.pk} ",
        f"0{alice.pk}",
        f"+{alice.pk}",
        f"{alice.pk}\n",
        "".join(chr(0xFF10 + int(d)) for d in str(alice.pk)),  # full width
        str(bob.pk),
        f"{bob.pk}:",
        f"{alice.pk}:{bob.pk}",
    ]
    for user_id in spellings:
        for staff, forged in [
            ("", signed),
            ("", signed.upper()),
            (f":{expiry}", f"{pid}:{mac}"),
            (f"{expiry}:{pid}", f"::{mac}"),
            ("", f"{expiry}:{pid}:{mac.upper()}"),
            ("", f"{expiry}:{pid}:{mac} "),
            ("", f"{expiry}::{pid}:{mac}"),
        ]:
            with runtime.transaction():
                set_scope(runtime, user_id, forged, staff)
                assert acting(runtime) is None, (user_id, staff, forged)
                assert owners_seen(runtime) == set()


@pytest.mark.parametrize(
    "signed",
    [
        "9" * 5000 + ":0:" + "0" * 64,
        "1:" + "9" * 5000 + ":" + "0" * 64,
        ":" * 10000,
        "\u00e9\u2028\U0001f600:0:" + "0" * 64,
        "NaN:0:" + "0" * 64,
        "Infinity:Infinity:" + "0" * 64,
        "1e99:0:" + "0" * 64,
        "0x10:0:" + "0" * 64,
        "{1,2}:0:" + "0" * 64,
        "",
        ":",
        "1:2:3:4",
        "abc:def:" + "0" * 64,
        "1:0:not hex",
        "\\x00:0:0",
    ],
)
@pytest.mark.parametrize(
    "user_id", ["", "1:", "-1", "9" * 5000, "\U0001f600", "NULL", "1e3"]
)
def test_odd_settings_never_make_the_verifier_raise(runtime, user_id, signed):
    # Nothing is cast before the HMAC matched: an injected statement that
    # sets garbage gets nobody, never an error to learn from.
    with runtime.transaction():
        set_scope(runtime, user_id, signed, staff="\u00e9:" * 100)
        assert acting(runtime) is None


def test_unset_and_null_settings_are_nobody(alice_and_bob, runtime):
    alice, _ = alice_and_bob
    with runtime.transaction():
        # Only the stamp: user, staff and proof never set in this session.
        runtime.execute(
            "SELECT set_config('todoproject.transaction', "
            "(extract(epoch FROM now()) * 1000000)::bigint::text, true)"
        )
        assert acting(runtime) is None
    with runtime.transaction():
        # Alice's real proof, her id left unset (NULL message).
        runtime.execute(
            "SELECT set_config('todoproject.proof', %s, true), "
            "set_config('todoproject.transaction', "
            "(extract(epoch FROM now()) * 1000000)::bigint::text, true)",
            [proof(alice.pk, "", pid_of(runtime))],
        )
        assert acting(runtime) is None


def test_a_session_level_stamp_and_proof_count_only_in_their_transaction(
    alice_and_bob, runtime
):
    alice, bob = alice_and_bob
    with runtime.transaction():
        runtime.execute(
            SET_SCOPE.format(local="false"),
            scope_params(alice.pk, proof(alice.pk, "", pid_of(runtime))),
        )
        assert acting(runtime) == alice.pk
    time.sleep(0.01)
    with runtime.transaction():
        assert acting(runtime) is None
        assert owners_seen(runtime) == set()


def test_alices_proof_writes_nothing_of_bobs(alice_and_bob, runtime):
    alice, bob = alice_and_bob
    signed = proof(alice.pk, "", pid_of(runtime))
    for statement in (
        "UPDATE tasks_task SET owner_id = %s",
        "INSERT INTO tasks_task (owner_id, title, description, completed, "
        "created_at, updated_at) SELECT %s, 'x', '', false, now(), now()",
    ):
        with runtime.transaction():
            set_scope(runtime, alice.pk, signed)
            with pytest.raises(errors.InsufficientPrivilege):
                runtime.execute(statement, [bob.pk])
    with runtime.transaction():
        set_scope(runtime, alice.pk, signed)
        assert (
            runtime.execute(
                "UPDATE tasks_task SET title = 'mine' WHERE owner_id = %s", [bob.pk]
            ).rowcount
            == 0
        )
        assert (
            runtime.execute(
                "DELETE FROM tasks_task WHERE owner_id = %s", [bob.pk]
            ).rowcount
            == 0
        )
        # Through a CTE too: still only alice.
        assert owners_seen(
            runtime,
            "WITH t AS (SELECT owner_id FROM tasks_task) "
            "SELECT DISTINCT owner_id FROM t",
        ) == {alice.pk}


def test_the_system_function_opens_nothing_to_the_runtime_role(
    alice_and_bob, runtime, superuser_cursor
):
    tables = ["tasks_task", "todoproject_scope_key", "pg_class", "tasks_task_search"]
    for table in tables:
        (may,) = runtime.execute(
            "SELECT todoproject_system_may(%s::regclass)", [table]
        ).fetchone()
        assert may is False, table
    assert runtime.execute("SELECT todoproject_system_may(NULL)").fetchone() == (None,)
    assert runtime.execute("SELECT todoproject_system_may(0)").fetchone() == (None,)
    for value in ("on", "ON", "true", "1"):
        with runtime.transaction():
            runtime.execute(f"SELECT set_config('{SYSTEM_SETTING}', %s, true)", [value])
            assert owners_seen(runtime) == set()
    # Only the owner may replace it.
    with pytest.raises(errors.InsufficientPrivilege), runtime.transaction():
        runtime.execute(
            "CREATE OR REPLACE FUNCTION todoproject_system_may(tbl regclass) "
            "RETURNS boolean LANGUAGE sql AS 'SELECT true'"
        )


def test_the_verifier_cannot_be_replaced_or_shadowed_in_the_policy(
    alice_and_bob, hostile
):
    # The policy names the function by oid: a todoproject_acting_user() of
    # the attacker's own before it on the search_path is never called.
    conn = hostile
    with conn.transaction():
        conn.execute(
            "CREATE FUNCTION look_alike.todoproject_acting_user() RETURNS bigint "
            f"LANGUAGE sql AS 'SELECT {alice_and_bob[1].pk}::bigint'"
        )
        conn.execute(
            "CREATE FUNCTION look_alike.todoproject_system_may(regclass) "
            "RETURNS boolean LANGUAGE sql AS 'SELECT true'"
        )
        conn.execute("SET LOCAL search_path = look_alike, pg_catalog, public")
        conn.execute(f"SELECT set_config('{SYSTEM_SETTING}', 'on', true)")
        assert owners_seen(conn) == set()
