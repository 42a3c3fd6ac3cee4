"""The policies ownership renders from an app's declaration (ownership/policies.py).

``tasks`` declares ``OWNED = Owned(Task, owner_field="owner")`` and
``ownership`` renders the policies, the staff function and the acting
user's verifier from it and from the models' metadata. What the rendered
SQL must equal is what the latest migrations installed, as
tests/data/migration_sql holds it: a rendering that drifts from them would
make ``migrate`` reinstall something no migration made. And ``ownership``
names no table of another app: the declaration brings them.
"""

import ast
import re

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.test.utils import isolate_apps

from operations import integrity
from ownership import policies
from tasks import search
from tasks.models import OWNED, Task
from tests.utils import ROOT

HELD = ROOT / "tests" / "data" / "migration_sql" / "tasks"


def held(migration: str, *, backwards: bool = False) -> str:
    """Return the SQL that tasks' `migration` runs, as held for it."""
    (path,) = [
        path
        for path in HELD.glob(f"{migration}_*.sql")
        if path.name.endswith(".backwards.sql") == backwards
    ]
    return path.read_text()


def policy_statements(sql: str) -> dict[str, str]:
    """Return {policy name: its statement without the verb} of `sql`."""
    found = re.findall(r"^CREATE POLICY ((\w+) ON .*?;)$", sql, re.M | re.S)
    return {name: statement for statement, name in found}


# Which migration installed each policy last, and how (tasks/0009 changed
# the owner's expressions in place). A new migration that changes a policy
# moves its entry here.
LATEST = {
    "task_owner": ("0009", "ALTER POLICY"),
    "task_system": ("0011", "ALTER POLICY"),
    "task_staff_select": ("0003", "CREATE POLICY"),
    "task_staff_insert": ("0003", "CREATE POLICY"),
    "task_staff_update": ("0003", "CREATE POLICY"),
    "task_staff_delete": ("0003", "CREATE POLICY"),
}


def test_the_rendered_policies_are_the_ones_the_latest_migrations_installed():
    rendered = policy_statements(policies.create_policies(OWNED))

    assert rendered.keys() == LATEST.keys()
    for name, (migration, verb) in LATEST.items():
        assert f"{verb} {rendered[name]}" in held(migration), name


def test_dropping_the_policies_is_what_0003_runs_backwards():
    assert policies.drop_policies(OWNED) in held("0003", backwards=True)


def test_the_rendered_functions_are_the_ones_tasks_0009_and_0011_installed():
    # 0009 replaced the staff function that 0003 had created; 0011 replaced
    # the acting user's function and added the system function.
    rendered = policies.create_staff_function(OWNED)
    staff = rendered[rendered.index(f"CREATE FUNCTION {policies.STAFF_FUNCTION}(") :]
    acting = policies.CREATE_ACTING_USER_FUNCTION.replace(
        "CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"
    )

    assert rendered.count("CREATE FUNCTION") == 3
    assert rendered == (
        policies.CREATE_ACTING_USER_FUNCTION + policies.CREATE_SYSTEM_FUNCTION + staff
    )
    assert staff.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION") in held(
        "0009"
    )
    assert acting + policies.CREATE_SYSTEM_FUNCTION in held("0011")


def test_the_search_sql_built_from_the_declaration_is_what_tasks_0006_installed():
    assert search.CREATE in held("0006")
    assert search.DROP in held("0006", backwards=True)


# What every database migrated so far recorded (operations/integrity.py):
# another digest would make the next migrate of each reinstall the
# definitions. Change it only with a migration that changes them.
RECORDED_DIGEST = "8497f4752ed4ea52883fd67a0f03dae90f6466634e93f5054e9d567fb2a4416b"


def test_the_definitions_digest_is_the_one_migrated_databases_recorded():
    assert integrity.code_digest() == RECORDED_DIGEST


# Rendered for a model other than Task: every name comes from its metadata.


@pytest.fixture
def note():
    """A model of another table, owner column and name than Task's."""
    with isolate_apps("accounts"):

        class Note(models.Model):
            author = models.ForeignKey(
                get_user_model(),
                on_delete=models.CASCADE,
                db_column="written_by",
                related_name="+",
            )

            class Meta:
                app_label = "accounts"
                db_table = "shared_notes"

            def __str__(self) -> str:
                return f"note {self.pk}"

        yield Note


def test_the_policies_name_the_declared_models_table_column_and_permissions(note):
    owned = policies.Owned(note, owner_field="author")

    rendered = policies.create_policies(owned)

    assert sorted(policy_statements(rendered)) == [
        "note_owner",
        "note_staff_delete",
        "note_staff_insert",
        "note_staff_select",
        "note_staff_update",
        "note_system",
    ]
    assert "written_by = (SELECT todoproject_acting_user())" in rendered
    assert "todoproject_system_may('shared_notes'::regclass)" in rendered
    assert "todoproject_staff_may('{view_note,change_note}')" in rendered
    assert "tasks" not in rendered
    assert "DROP POLICY note_owner ON shared_notes;" in policies.drop_policies(owned)


def test_the_staff_function_asks_for_the_declared_models_app_label(note):
    rendered = policies.create_staff_function(policies.Owned(note, "author"))

    assert "ct.app_label = 'accounts'" in rendered
    assert "'tasks'" not in rendered


def test_the_staff_function_reads_the_user_models_own_tables():
    user = get_user_model()

    rendered = policies.create_staff_function(OWNED)

    for table in (
        user._meta.db_table,
        user.user_permissions.through._meta.db_table,
        user.groups.through._meta.db_table,
    ):
        assert f" {table} " in rendered


@pytest.mark.parametrize("field", ["title", "id", "missing"])
def test_an_owner_field_that_is_no_foreign_key_to_the_user_is_refused(field):
    owned = policies.Owned(Task, owner_field=field)

    with pytest.raises(ImproperlyConfigured, match=f"Task.{field} is not a foreign"):
        policies.create_policies(owned)


@pytest.mark.parametrize("name", ["Tasks", "tasks task", "tasks'; --", ""])
def test_a_name_sql_would_need_quoted_is_refused(name):
    with pytest.raises(ImproperlyConfigured, match="needs quotes"):
        policies.plain(name)


# ownership names no table of another app ---------------------------------


def other_apps_tables() -> list[str]:
    """Return the tables of every installed app but ownership, as patterns.

    Each model's table (with the many-to-many ones), and the prefix of every
    app of this checkout (``tasks_``): an app's tables that no model names
    (the search copy) start with it.
    """
    names = {
        re.escape(model._meta.db_table) + r"\b"
        for model in apps.get_models(include_auto_created=True)
        if model._meta.app_label != "ownership"
    }
    names |= {
        re.escape(f"{config.label}_")
        for config in apps.get_app_configs()
        if config.label != "ownership" and (ROOT / config.name).is_dir()
    }
    return sorted(names)


def code_strings(source: str) -> list[str]:
    """Return the string literals of `source` but its docstrings.

    f-strings count with their literal parts. Docstrings and comments are
    prose for a reader; a literal is what the code may send.
    """
    tree = ast.parse(source)
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(
            node,
            ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef,
        ):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def tables_named(source: str, tables: list[str]) -> list[str]:
    """Return the patterns of `tables` that a string literal of `source` matches."""
    return sorted(
        {
            table
            for text in code_strings(source)
            for table in tables
            if re.search(rf"\b{table}", text)
        }
    )


def test_ownership_names_no_table_of_another_app():
    tables = other_apps_tables()

    named = {
        str(path.relative_to(ROOT)): tables_named(path.read_text(), tables)
        for path in sorted((ROOT / "ownership").rglob("*.py"))
    }

    assert {path: found for path, found in named.items() if found} == {}


@pytest.mark.parametrize(
    "source",
    [
        'TABLE = "tasks_task"',
        'SQL = f"SELECT 1 FROM accounts_user u WHERE u.id = {ACTING_USER}"',
        "SQL = 'JOIN auth_group_permissions gp'",
        "COPY = 'tasks_task_search'",
        'def f():\n    """Read tasks_task."""\n    return "DELETE FROM django_session"',
    ],
)
def test_a_table_of_another_app_in_a_string_is_found(source):
    assert tables_named(source, other_apps_tables())


def test_a_table_named_in_a_docstring_or_comment_is_prose():
    source = '"""The policies of ``tasks_task``."""\n# accounts_user\nX = "on"\n'

    assert tables_named(source, other_apps_tables()) == []
