"""Row-level security for the tables an app owns, and the settings it reads.

``ownership`` names no table of the apps above it: an app declares what it
owns, ``Owned(Task, owner_field="owner")`` (tasks/models.py), and the
functions below render the policies, the staff function and the acting
user's verifier from that declaration and from the models' metadata
(``db_table``, the owner field's column, ``app_label`` and ``model_name``
for the permissions; the user model's tables through ``get_user_model()``).
Defined once: ``ownership.scope`` writes these settings, the owning app's
migrations hold as text what these functions rendered when each was
released (they never change), and ``operations.integrity`` installs the
rendered SQL again where the database drifted from it. A row of the owned
table is visible and writable when:

- it belongs to the acting user (``todoproject.user_id``);
- the session's role is the table's owner, or can act as it, and the system
  scope is on (``todoproject.system``): work no single user triggers, run as
  the owner. The runtime role owns nothing, so no value of the setting
  opens anything to it;
- the staff scope is on (``todoproject.staff``) and the acting user is
  active staff holding the model's permission for the operation, as the
  database itself reads it from Django's auth tables (a ``SECURITY
  DEFINER`` function): the admin.

Every setting is made transaction-local (``set_config(name, value, true)``)
together with ``todoproject.transaction``, the transaction's start time
(``now()``). The acting user and the staff scope count only while that
setting equals ``now()``, so a value left at session level, by this client
or, through a pooler in transaction mode, by another client of the same
server connection, counts in no later transaction: fail closed.

The acting user (and the staff flag) also count only with a proof that the
application made them (``todoproject.proof``, ownership/proofs.py): an
HMAC-SHA256 of the user, the staff flag, an expiry and the backend's pid,
under a key derived from the secret key that only the owner may read
(``todoproject_scope_key``). ``todoproject_acting_user()``, a ``SECURITY
DEFINER`` function, checks it once per statement: a statement injected
into a request can name another user, but cannot sign for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_permission_codename, get_user_model
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured

if TYPE_CHECKING:
    from django.db.models import Model

USER_SETTING = "todoproject.user_id"
SYSTEM_SETTING = "todoproject.system"
STAFF_SETTING = "todoproject.staff"
TRANSACTION_SETTING = "todoproject.transaction"
PROOF_SETTING = "todoproject.proof"

STAFF_FUNCTION = "todoproject_staff_may"
ACTING_USER_FUNCTION = "todoproject_acting_user"
SYSTEM_FUNCTION = "todoproject_system_may"
KEY_TABLE = "todoproject_scope_key"

# The permissions (actions of ``get_permission_codename``) that open a row
# to staff, by command: seeing takes view or change, as in the admin.
STAFF_SEES = ("view", "change")
STAFF_ADDS = ("add",)
STAFF_CHANGES = ("change",)
STAFF_DELETES = ("delete",)

# The transaction's start time in microseconds since the epoch: the same
# text whatever DateStyle, TimeZone or IntervalStyle a session sets.
SCOPE_STAMP = "(extract(epoch FROM now()) * 1000000)::bigint::text"
# True only in the transaction whose scope set it.
IN_SCOPE = f"current_setting('{TRANSACTION_SETTING}', true) = {SCOPE_STAMP}"
# The acting user, when the application's proof of it checks out.
ACTING_USER = f"{ACTING_USER_FUNCTION}()"

# The rendered SQL names tables and columns unquoted, as the landed
# migrations do; a name that would need quotes is refused, not quoted.
PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")

# Each declared owned table by its name quoted, as Django's SQL writes it,
# and its model: ``ownership.scope`` looks for them in statements that run
# with no scope in force (ownership/unscoped.py).
OWNED_TABLES: dict[str, type[Model]] = {}


def plain(name: str) -> str:
    """Return `name`, a table or column, if SQL may write it without quotes."""
    if not PLAIN_NAME.fullmatch(name):
        raise ImproperlyConfigured(
            f"{name!r} needs quotes in SQL: row-level security renders plain "
            "lowercase names only"
        )
    return name


@dataclass(frozen=True)
class Owned:
    """A model each of whose rows belongs to one user, through `owner_field`.

    Declared by the app that defines the model (``OWNED = Owned(Task,
    owner_field="owner")``); ownership renders the model's policies from it.
    `owner_field` is a foreign key to the user model.
    """

    model: type[Model]
    owner_field: str = "owner"

    def __post_init__(self) -> None:
        OWNED_TABLES[f'"{self.model._meta.db_table}"'] = self.model

    @property
    def table(self) -> str:
        """Return the model's table."""
        return plain(self.model._meta.db_table)

    @property
    def owner_column(self) -> str:
        """Return the column of the owner's id."""
        try:
            field = self.model._meta.get_field(self.owner_field)
        except FieldDoesNotExist:
            field = None
        if field is None or not (
            field.many_to_one and field.related_model is get_user_model()
        ):
            raise ImproperlyConfigured(
                f"{self.model._meta.label}.{self.owner_field} is not a foreign "
                "key to the user model"
            )
        return plain(field.column)

    @property
    def app_label(self) -> str:
        """Return the app label of the model's permissions."""
        return plain(self.model._meta.app_label)

    @property
    def policy_prefix(self) -> str:
        """Return what the names of the model's policies start with."""
        return plain(self.model._meta.model_name)

    def codenames(self, actions: tuple[str, ...]) -> tuple[str, ...]:
        """Return the model's permission codenames for `actions` (``view``...)."""
        return tuple(
            plain(get_permission_codename(action, self.model._meta))
            for action in actions
        )


def owner_condition(owned: Owned) -> str:
    """SQL: whether a row belongs to the acting user.

    The acting user as an InitPlan (a parenthesised SELECT) is evaluated
    once per statement rather than once per row, and is an index condition
    on the owner column.
    """
    return f"{owned.owner_column} = (SELECT {ACTING_USER})"


def system_condition(owned: Owned) -> str:
    """SQL: whether the system scope is on for the table's owner.

    Needs no transaction check: only the owner, which could lift the
    policies anyway, may use it (pg_dump sets it for its session). The
    catalogue is asked (``todoproject_system_may``) only when the setting
    is on, once per statement.
    """
    return (
        f"(SELECT CASE WHEN current_setting('{SYSTEM_SETTING}', true) = 'on' "
        f"THEN {SYSTEM_FUNCTION}('{owned.table}'::regclass) ELSE false END)"
    )


def staff_may(*codenames: str) -> str:
    """SQL: whether the acting user is staff in the admin with one of `codenames`."""
    array = "{" + ",".join(codenames) + "}"
    return (
        f"(SELECT CASE WHEN current_setting('{STAFF_SETTING}', true) = 'on' "
        f"THEN {STAFF_FUNCTION}('{array}') ELSE false END)"
    )


# The proof: "<expiry, epoch seconds>:<backend pid, or 0>:<hex HMAC>" of
# "<user id>:<staff setting>:<expiry>:<pid>". The key is stored as its two
# HMAC pads (key XOR ipad, key XOR opad), so that PostgreSQL's own sha256()
# computes the HMAC without pgcrypto. A pid of 0 binds to no backend:
# behind a pooler in transaction mode the application cannot know which
# backend runs its statement.
#
# No setting makes the verifier fail, and nothing is cast before the HMAC
# matched: the HMAC is compared as hex text, and only then are the expiry,
# the pid and the user id, which the application signed as digits, read as
# numbers. (The signed message holds exactly three colons, so a match
# means the same user, staff setting, expiry and pid: none of them can
# borrow a colon from another.) The message's bytes are taken in the
# database's own encoding, which converts nothing: a conversion to another
# one would be looked up through the caller's search_path. What the
# application signs is ASCII, the same bytes in every server encoding.
#
# PL/pgSQL, not SQL: a SQL function that cannot be inlined (SECURITY
# DEFINER) is planned again at every statement that calls it. No SET
# clause: applying one (search_path) at every call cost about 35 us a
# statement, as much as the rest of the check. Instead every name in the
# body is qualified: the key table by the schema the migration runs in
# (format()'s %1$I), functions and types by pg_catalog, operators by
# OPERATOR(pg_catalog.x); so no search_path a caller sets, pg_temp first
# or a schema before pg_catalog, can put an object of its own in their
# place.
VERIFY_ACTING_USER = f"""
DECLARE
    claimed pg_catalog.text;
    proof pg_catalog.text[];
    stamp pg_catalog.text := pg_catalog.current_setting('{TRANSACTION_SETTING}', true);
BEGIN
    IF stamp IS NULL OR stamp OPERATOR(pg_catalog.<>)
            (extract(epoch FROM pg_catalog.now()) OPERATOR(pg_catalog.*) 1000000)::bigint::pg_catalog.text THEN
        RETURN NULL;
    END IF;
    claimed := pg_catalog.current_setting('{USER_SETTING}', true);
    proof := pg_catalog.string_to_array(pg_catalog.current_setting('{PROOF_SETTING}', true), ':');
    IF proof IS NULL OR pg_catalog.cardinality(proof) OPERATOR(pg_catalog.<>) 3 THEN
        RETURN NULL;
    END IF;
    PERFORM FROM %1$I.{KEY_TABLE} k
    WHERE (k.retire_at IS NULL OR k.retire_at OPERATOR(pg_catalog.>) pg_catalog.now())
      AND pg_catalog.encode(pg_catalog.sha256(k.outer_pad OPERATOR(pg_catalog.||)
              pg_catalog.sha256(k.inner_pad OPERATOR(pg_catalog.||) pg_catalog.convert_to(
                  claimed OPERATOR(pg_catalog.||) ':'
                  OPERATOR(pg_catalog.||) coalesce(pg_catalog.current_setting('{STAFF_SETTING}', true), '')
                  OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) proof[1]
                  OPERATOR(pg_catalog.||) ':' OPERATOR(pg_catalog.||) proof[2],
                  pg_catalog.getdatabaseencoding()))), 'hex')
          OPERATOR(pg_catalog.=) proof[3];
    IF NOT FOUND
        OR proof[1]::bigint OPERATOR(pg_catalog.<=) extract(epoch FROM pg_catalog.now())
        OR (proof[2]::bigint OPERATOR(pg_catalog.<>) 0
            AND proof[2]::bigint OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()) THEN
        RETURN NULL;
    END IF;
    RETURN claimed::bigint;
END
"""  # noqa: E501

# The acting user's function is made through format(), which names the
# schema the migration runs in. The staff function keeps its SET clause
# (it runs in the admin only): its search_path is that schema, then
# pg_temp explicitly last. Unlisted, pg_temp would be searched first, and
# a temporary view named like an auth table would run as the owner.
# SECURITY DEFINER: they run as the owner, so the objects they name must
# be the owner's. The acting user's function comes first: the staff
# function calls it.
CREATE_ACTING_USER_FUNCTION = f"""
DO $do$
BEGIN
    EXECUTE pg_catalog.format($sql$
CREATE FUNCTION %1$I.{ACTING_USER_FUNCTION}() RETURNS bigint
    LANGUAGE plpgsql STABLE SECURITY DEFINER
AS $fn${VERIFY_ACTING_USER}$fn$
$sql$, pg_catalog.current_schema());
END
$do$;
SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
"""

# Whether the session's role may act as the table's owner: asked only when
# the system setting is on (the policy's CASE). PL/pgSQL, so that the
# policies plan a function call rather than a query of pg_class (about 30
# us a statement). It runs as the caller: the runtime role, which owns
# nothing, gets false.
CREATE_SYSTEM_FUNCTION = f"""
CREATE FUNCTION {SYSTEM_FUNCTION}(tbl regclass) RETURNS boolean
    LANGUAGE plpgsql STABLE
AS $$
BEGIN
    RETURN (SELECT pg_catalog.pg_has_role(CURRENT_USER, c.relowner, 'USAGE')
            FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl);
END
$$;
"""
DROP_STAFF_FUNCTION = f"DROP FUNCTION {STAFF_FUNCTION}(text[]);"


def column(model: type[Model], field: str) -> str:
    """Return the column of `model`'s `field`."""
    return plain(model._meta.get_field(field).column)


def column_to(through: type[Model], model: type[Model]) -> str:
    """Return the column of the many-to-many table `through` that refers to `model`."""
    (found,) = [
        field.column
        for field in through._meta.get_fields()
        if field.many_to_one and field.related_model is model
    ]
    return plain(found)


def create_staff_function(owned: Owned) -> str:
    """Return the SQL that creates the acting user's, the system and the staff function.

    The staff function answers, as ``ModelBackend.has_perm`` does, whether
    the acting user is active staff and a superuser or holds one of the
    given permissions of `owned`'s app, directly or through a group. The
    tables are the user model's and Django's auth and content types', as
    their metadata names them. It is for one app's permissions (tasks');
    ``ownership.guards`` adds one that takes the app label as an argument.
    """
    return f"""{CREATE_ACTING_USER_FUNCTION}{CREATE_SYSTEM_FUNCTION}CREATE FUNCTION {STAFF_FUNCTION}(codenames text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
{staff_check(f"'{owned.app_label}'")}
$$;
"""  # noqa: E501


def staff_check(app_label: str) -> str:
    """SQL: whether the acting user is staff in the admin with one of ``codenames``.

    The body of a function with a ``codenames text[]`` argument; `app_label`
    is SQL: a quoted label, or the name of an argument that holds one.
    """
    user_model = get_user_model()
    permission = user_model._meta.get_field("user_permissions").related_model
    group = user_model._meta.get_field("groups").related_model
    content_type = permission._meta.get_field("content_type").related_model
    # Model.m2m_field.through: the table of a many-to-many relation.
    user_permissions = user_model.user_permissions.through
    user_groups = user_model.groups.through
    group_permissions = group.permissions.through

    user_table = plain(user_model._meta.db_table)
    user_id = plain(user_model._meta.pk.column)
    is_active = column(user_model, "is_active")
    is_staff = column(user_model, "is_staff")
    is_superuser = column(user_model, "is_superuser")
    permission_table = plain(permission._meta.db_table)
    permission_id = plain(permission._meta.pk.column)
    permission_type = column(permission, "content_type")
    codename = column(permission, "codename")
    type_table = plain(content_type._meta.db_table)
    type_id = plain(content_type._meta.pk.column)
    type_app_label = column(content_type, "app_label")
    up_table = plain(user_permissions._meta.db_table)
    up_permission = column_to(user_permissions, permission)
    up_user = column_to(user_permissions, user_model)
    gp_table = plain(group_permissions._meta.db_table)
    gp_permission = column_to(group_permissions, permission)
    gp_group = column_to(group_permissions, group)
    ug_table = plain(user_groups._meta.db_table)
    ug_group = column_to(user_groups, group)
    ug_user = column_to(user_groups, user_model)
    return f"""    SELECT {IN_SCOPE}
        AND current_setting('{STAFF_SETTING}', true) = 'on' AND EXISTS (
        SELECT 1 FROM {user_table} u
        WHERE u.{user_id} = {ACTING_USER}
          AND u.{is_active} AND u.{is_staff}
          AND (u.{is_superuser} OR EXISTS (
              SELECT 1 FROM {permission_table} p
              JOIN {type_table} ct ON ct.{type_id} = p.{permission_type}
              WHERE ct.{type_app_label} = {app_label} AND p.{codename} = ANY (codenames)
                AND (p.{permission_id} IN (SELECT up.{up_permission}
                              FROM {up_table} up
                              WHERE up.{up_user} = u.{user_id})
                     OR p.{permission_id} IN (SELECT gp.{gp_permission}
                                 FROM {gp_table} gp
                                 JOIN {ug_table} ug
                                   ON ug.{ug_group} = gp.{gp_group}
                                 WHERE ug.{ug_user} = u.{user_id}))))
    )"""  # noqa: E501


def create_policies(owned: Owned) -> str:
    """Return the SQL that creates `owned`'s policies: owner, system, staff."""
    name, table = owned.policy_prefix, owned.table
    owner, system = owner_condition(owned), system_condition(owned)
    return f"""
CREATE POLICY {name}_owner ON {table}
    USING ({owner})
    WITH CHECK ({owner});
CREATE POLICY {name}_system ON {table}
    USING ({system})
    WITH CHECK ({system});
CREATE POLICY {name}_staff_select ON {table} FOR SELECT
    USING ({staff_may(*owned.codenames(STAFF_SEES))});
CREATE POLICY {name}_staff_insert ON {table} FOR INSERT
    WITH CHECK ({staff_may(*owned.codenames(STAFF_ADDS))});
CREATE POLICY {name}_staff_update ON {table} FOR UPDATE
    USING ({staff_may(*owned.codenames(STAFF_CHANGES))})
    WITH CHECK ({staff_may(*owned.codenames(STAFF_CHANGES))});
CREATE POLICY {name}_staff_delete ON {table} FOR DELETE
    USING ({staff_may(*owned.codenames(STAFF_DELETES))});
"""


def drop_policies(owned: Owned) -> str:
    """Return the SQL that drops `owned`'s policies, in the reverse order."""
    name, table = owned.policy_prefix, owned.table
    return f"""
DROP POLICY {name}_staff_delete ON {table};
DROP POLICY {name}_staff_update ON {table};
DROP POLICY {name}_staff_insert ON {table};
DROP POLICY {name}_staff_select ON {table};
DROP POLICY {name}_system ON {table};
DROP POLICY {name}_owner ON {table};
"""


def enable_row_security(owned: Owned) -> str:
    """Return the SQL that puts `owned`'s table, owner too, under its policies."""
    return (
        f"ALTER TABLE {owned.table} ENABLE ROW LEVEL SECURITY;\n"
        f"ALTER TABLE {owned.table} FORCE ROW LEVEL SECURITY;"
    )
