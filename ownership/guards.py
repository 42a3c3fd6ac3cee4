"""Who may change accounts and privileges: the database asks the proof too.

The runtime role writes the user and auth tables (people sign up, log in,
change their password; staff manage accounts in the admin). Without a
guard, a statement injected into one user's request could make that user
staff and superuser, grant them permissions, set another user's password
hash or email, or delete another user (and so, by the foreign key's
cascade, their tasks). Row-level security cannot tell these apart (who may
change a row depends on which columns change), so triggers do, asking the
same proof as the policies (``todoproject_acting_user()``, ownership/
policies.py). For the runtime role:

- a user row: anyone may add one that is not staff nor superuser (sign-up),
  which gets a new id from the sequence whatever the statement said, and
  change ``last_login`` alone (login);
  the acting user may change and delete their own row, but not its staff
  or superuser flags (activating an account once its email is confirmed,
  or closing it, is the user's own); anything else needs the staff scope
  of active staff holding the user model's ``change_user`` (``delete_user``
  to delete), as the admin has;
- the user's group and permission links, groups, their permissions, the
  permissions and content types themselves: the staff scope with the
  matching permission;
- the admin's history: an entry names the acting user; changing one needs
  ``change_logentry`` and deleting one ``delete_user`` (a user's entries go
  with them).

The table's owner (``migrate``, ``seed_sample_data``, ``createsuperuser``
run as the owner) and superusers pass, and so do the foreign keys' own
cascades, which PostgreSQL runs as the owner. Names come from the models'
metadata, as for the policies; the migration that installs this holds it
as text (tasks/0010), and ``operations.integrity`` installs it again where
it drifted.
"""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_permission_codename, get_user_model

from .policies import ACTING_USER, column, plain, staff_check

STAFF_MAY_IN_FUNCTION = "todoproject_staff_may_in"
USER_GUARD_FUNCTION = "todoproject_guard_user"
STAFF_ONLY_FUNCTION = "todoproject_guard_staff_only"
LOG_GUARD_FUNCTION = "todoproject_guard_admin_log"

EVERY_WRITE = "INSERT OR UPDATE OR DELETE"
# What `IS_OWNER` asks: the session's role is the table's owner or can act
# as it (a superuser can).
IS_OWNER = (
    "pg_has_role(current_user, "
    "(SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')"
)


def _codename(model, action: str) -> str:
    return plain(get_permission_codename(action, model._meta))


def _label(model) -> str:
    return plain(model._meta.app_label)


def create_account_guards() -> str:
    """Return the SQL that creates the staff check by app, the guards and triggers."""
    user_model = get_user_model()
    permission = user_model._meta.get_field("user_permissions").related_model
    group = user_model._meta.get_field("groups").related_model
    content_type = permission._meta.get_field("content_type").related_model
    user_table = plain(user_model._meta.db_table)
    user_id = plain(user_model._meta.pk.column)
    flags = [column(user_model, name) for name in ("is_staff", "is_superuser")]
    last_login = column(user_model, "last_login")
    accounts = _label(user_model)
    change_user = _codename(user_model, "change")
    delete_user = _codename(user_model, "delete")
    staff_may_user = f"{STAFF_MAY_IN_FUNCTION}('{accounts}', '{{{change_user}}}')"
    unchanged_flags = " AND ".join(f"NEW.{name} = OLD.{name}" for name in flags)

    def staff_only(table: str, operations: str, model, *actions: str) -> str:
        arguments = ", ".join(
            [f"'{_label(model)}'", *(f"'{_codename(model, a)}'" for a in actions)]
        )
        name = f"{table}_guard_{operations.lower().replace(' or ', '_')}"
        return (
            f"CREATE TRIGGER {name} BEFORE {operations} ON {table}\n"
            f"    FOR EACH ROW EXECUTE FUNCTION {STAFF_ONLY_FUNCTION}({arguments});\n"
        )

    user_permissions = plain(user_model.user_permissions.through._meta.db_table)
    user_groups = plain(user_model.groups.through._meta.db_table)
    group_permissions = plain(group.permissions.through._meta.db_table)
    group_table = plain(group._meta.db_table)
    permission_table = plain(permission._meta.db_table)
    type_table = plain(content_type._meta.db_table)
    log_table = plain(LogEntry._meta.db_table)
    log_user = column(LogEntry, "user")
    triggers = "".join(
        [
            staff_only(user_permissions, "INSERT OR UPDATE", user_model, "change"),
            staff_only(user_permissions, "DELETE", user_model, "change", "delete"),
            staff_only(user_groups, "INSERT OR UPDATE", user_model, "change"),
            staff_only(user_groups, "DELETE", user_model, "change", "delete"),
            staff_only(group_permissions, "INSERT OR UPDATE", group, "change"),
            staff_only(group_permissions, "DELETE", group, "change", "delete"),
            staff_only(group_table, "INSERT", group, "add"),
            staff_only(group_table, "UPDATE", group, "change"),
            staff_only(group_table, "DELETE", group, "delete"),
            staff_only(permission_table, EVERY_WRITE, permission, "change"),
            staff_only(type_table, EVERY_WRITE, content_type, "change"),
            # Django's admin never changes its history; deleting a user in
            # it deletes theirs.
            staff_only(log_table, "UPDATE", LogEntry, "change"),
            staff_only(log_table, "DELETE", user_model, "delete"),
        ]
    )
    return f"""SELECT set_config(
    'search_path', quote_ident(current_schema()) || ', pg_temp', true
);
CREATE FUNCTION {STAFF_MAY_IN_FUNCTION}(permission_app text, codenames text[]) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path FROM CURRENT
AS $$
{staff_check("permission_app")}
$$;
CREATE FUNCTION {USER_GUARD_FUNCTION}() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
DECLARE
    allowed boolean;
BEGIN
    IF {IS_OWNER} THEN
        allowed := true;
    ELSIF TG_OP = 'INSERT' THEN
        -- A new id from the sequence, whatever the statement gave: none
        -- chosen in advance (a deleted user's, whose old session cookies
        -- would then log in to it, or one the sequence would reach later).
        NEW.{user_id} := nextval(pg_get_serial_sequence(TG_RELID::regclass::text, '{user_id}'));
        allowed := NOT (NEW.{flags[0]} OR NEW.{flags[1]}) OR {staff_may_user};
    ELSIF TG_OP = 'UPDATE' THEN
        allowed := (to_jsonb(NEW) - '{last_login}') = (to_jsonb(OLD) - '{last_login}')
            OR (OLD.{user_id} IS NOT DISTINCT FROM {ACTING_USER}
                AND NEW.{user_id} = OLD.{user_id} AND {unchanged_flags})
            OR {staff_may_user};
    ELSE
        allowed := OLD.{user_id} IS NOT DISTINCT FROM {ACTING_USER}
            OR {STAFF_MAY_IN_FUNCTION}('{accounts}', '{{{delete_user}}}');
    END IF;
    -- Unknown (NULL) is refused too.
    IF allowed IS NOT TRUE THEN
        RAISE EXCEPTION USING ERRCODE = 'insufficient_privilege', MESSAGE = CASE TG_OP
            WHEN 'INSERT' THEN 'a new staff or superuser account needs the staff scope of staff who may change users (the admin, or staff_scope() in a view)'
            WHEN 'UPDATE' THEN format('user %s may be changed in that user''s scope only (their request, or acting_as()), and made staff or superuser only in the staff scope of staff who may change users (the admin, or staff_scope() in a view)', OLD.{user_id})
            ELSE format('user %s may be deleted in that user''s scope only (their request, or acting_as()), or in the staff scope of staff who may delete users (the admin, or staff_scope() in a view)', OLD.{user_id})
        END;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION {STAFF_ONLY_FUNCTION}() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    -- Unknown (NULL) is refused too.
    IF ({IS_OWNER}
        OR {STAFF_MAY_IN_FUNCTION}(TG_ARGV[0], TG_ARGV[1:])) IS NOT TRUE
    THEN
        RAISE EXCEPTION '% on % needs the staff scope of staff who may % (%): the admin, or staff_scope() in a view', TG_OP, TG_TABLE_NAME, array_to_string(TG_ARGV[1:], ' or '), TG_ARGV[0]
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE FUNCTION {LOG_GUARD_FUNCTION}() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path FROM CURRENT
AS $$
BEGIN
    -- Unknown (NULL) is refused too.
    IF ({IS_OWNER} OR NEW.{log_user} = {ACTING_USER}) IS NOT TRUE THEN
        RAISE EXCEPTION 'an entry of the admin''s history names the acting user, not user %', NEW.{log_user}
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION {USER_GUARD_FUNCTION}(), {STAFF_ONLY_FUNCTION}(), {LOG_GUARD_FUNCTION}() FROM PUBLIC;
CREATE TRIGGER {user_table}_guard BEFORE INSERT OR UPDATE OR DELETE ON {user_table}
    FOR EACH ROW EXECUTE FUNCTION {USER_GUARD_FUNCTION}();
CREATE TRIGGER {log_table}_guard_insert BEFORE INSERT ON {log_table}
    FOR EACH ROW EXECUTE FUNCTION {LOG_GUARD_FUNCTION}();
{triggers}"""  # noqa: E501
