"""
Invisible titles count as blank, and descriptions have a maximum length, in
the database as in validation (tasks/validators.py, tasks/models.py).

The title's CHECK had been ``title ~ '\\S'``: a title of U+3164 HANGUL
FILLER, zero-width spaces or variation selectors passed it. The new one
requires a character outside the list of ``VISIBLE_CHARACTER`` below, the
validator's own pattern, copied here as text so that this migration runs
the same SQL forever. The description gets ``length(description) <=
10000``.

On a live table, in steps that each hold a lock only briefly (the migration
is not atomic, and a ``lock_timeout`` makes a step that cannot get its lock
fail rather than queue every query behind it):

1. Both CHECKs are added ``NOT VALID``, under temporary names: from then
   on every write is checked, and no row is read.
2. Titles written before that show nothing become ``(untitled)`` followed
   by what they held (cut to fit 200 characters): such a title cannot be
   seen, clicked in the admin or told apart, and nothing else in the row
   changes but ``updated_at``. No row is deleted.
3. ``VALIDATE CONSTRAINT`` reads the table under a lock that lets reads
   and writes go on. The description's limit is validated only when no
   description written before is longer: such a text is kept as it is and
   its CHECK stays ``NOT VALID`` (every new write is still checked), with a
   warning; docs/operations.md says how to validate it later. Nothing is
   cut.
4. The old title CHECK is dropped and the new one takes its name.

A run that fails part way (a lock timeout) can simply be run again. On
SQLite the schema changes the usual Django way, after step 2; there a
description over the limit stops the migration with the ids to shorten.
"""

import logging
from contextlib import contextmanager

import django.core.validators
import django.db.models.functions.text
import django.db.models.lookups
from django.db import migrations, models, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat, Left, Length, Now

import tasks.validators
from ownership.operations import PostgreSQLOnlySQL

logger = logging.getLogger(__name__)


@contextmanager
def system_scope(using):
    """tasks/0003's system scope for one transaction, frozen here."""
    with transaction.atomic(using=using):
        connection = transaction.get_connection(using)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('todoproject.system', 'on', true)")
        yield


# tasks.validators.VISIBLE_CHARACTER at the time of this migration.
VISIBLE_CHARACTER = (
    r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u00ad\u034f\u0600-\u0605"
    r"\u061c\u06dd\u070f\u0890-\u0891\u08e2\u115f-\u1160\u1680\u17b4-\u17b5"
    r"\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u2800\u3000"
    r"\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufffb\U000110bd\U000110cd"
    r"\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    r"\U000e0000-\U000e0fff]"
)
DESCRIPTION_MAX_LENGTH = 10_000
TITLE_MAX_LENGTH = 200
PLACEHOLDER = "(untitled)"

# Session-level: a non-atomic migration has no transaction to scope them;
# the last operation resets them. VALIDATE reads the whole table, so no
# statement_timeout inherited from the role cuts it.
SET_TIMEOUTS = "SET lock_timeout = '5s';\nSET statement_timeout = 0;"
RESET_TIMEOUTS = "RESET lock_timeout;\nRESET statement_timeout;"

# The DROPs first make a rerun after a failed run start afresh.
ADD_NOT_VALID = f"""
ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS task_title_visible;
ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS task_description_max_length;
ALTER TABLE tasks_task
    ADD CONSTRAINT task_title_visible
        CHECK ((title)::text ~ '{VISIBLE_CHARACTER}') NOT VALID,
    ADD CONSTRAINT task_description_max_length
        CHECK (length(description) <= {DESCRIPTION_MAX_LENGTH}) NOT VALID;
"""
DROP_NOT_VALID = """
ALTER TABLE tasks_task DROP CONSTRAINT task_description_max_length;
ALTER TABLE tasks_task DROP CONSTRAINT task_title_visible;
"""

VALIDATE_TITLE = "ALTER TABLE tasks_task VALIDATE CONSTRAINT task_title_visible;"
VALIDATE_DESCRIPTION = (
    "ALTER TABLE tasks_task VALIDATE CONSTRAINT task_description_max_length"
)

# The old CHECK is implied by the new one: dropping it changes nothing a
# write may do.
REPLACE_TITLE_CHECK = """
ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS task_title_not_blank;
ALTER TABLE tasks_task RENAME CONSTRAINT task_title_visible TO task_title_not_blank;
"""
RESTORE_TITLE_CHECK = r"""
ALTER TABLE tasks_task RENAME CONSTRAINT task_title_not_blank TO task_title_visible;
ALTER TABLE tasks_task
    ADD CONSTRAINT task_title_not_blank CHECK ((title)::text ~ '\S') NOT VALID;
ALTER TABLE tasks_task VALIDATE CONSTRAINT task_title_not_blank;
"""


def name_invisible_titles(apps, schema_editor):
    """Prefix each title that shows nothing with PLACEHOLDER."""
    alias = schema_editor.connection.alias
    Task = apps.get_model("tasks", "Task")
    keep = TITLE_MAX_LENGTH - len(PLACEHOLDER)
    with system_scope(using=alias):
        named = (
            Task.objects.using(alias)
            .exclude(title__regex=VISIBLE_CHARACTER)
            .update(
                title=Concat(Value(PLACEHOLDER), Left(F("title"), keep)),
                updated_at=Now(),
            )
        )
    if named:
        logger.warning(
            "tasks.0008: %s titles that showed nothing now start with %r",
            named,
            PLACEHOLDER,
        )


def validate_description_limit(apps, schema_editor):
    """Validate the description's CHECK, unless a description is longer."""
    connection = schema_editor.connection
    Task = apps.get_model("tasks", "Task")
    with system_scope(using=connection.alias):
        longer = list(
            Task.objects.using(connection.alias)
            .alias(length=Length("description"))
            .filter(length__gt=DESCRIPTION_MAX_LENGTH)
            .order_by("pk")
            .values_list("pk", flat=True)[:20]
        )
    if connection.vendor != "postgresql":
        if longer:
            raise RuntimeError(
                f"tasks.0008: descriptions longer than {DESCRIPTION_MAX_LENGTH} "
                f"characters (task ids {longer}); shorten them and migrate again"
            )
        return
    if longer:
        logger.warning(
            "tasks.0008: descriptions longer than %s characters (task ids %s...) "
            "are kept; task_description_max_length stays NOT VALID until they "
            "are shortened (docs/operations.md)",
            DESCRIPTION_MAX_LENGTH,
            longer,
        )
        return
    schema_editor.execute(VALIDATE_DESCRIPTION)


class ElsewhereThanPostgreSQL:
    """Change the schema as the operation does, except on PostgreSQL.

    There the SQL above has made the change; the operation still records
    it in the migration state, which ``makemigrations --check`` compares
    with the model.
    """

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class RemoveConstraint(ElsewhereThanPostgreSQL, migrations.RemoveConstraint):
    pass


class AddConstraint(ElsewhereThanPostgreSQL, migrations.AddConstraint):
    pass


class AlterField(ElsewhereThanPostgreSQL, migrations.AlterField):
    pass


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("tasks", "0007_copy_the_titles_written_before"),
    ]

    operations = [
        PostgreSQLOnlySQL(SET_TIMEOUTS, reverse_sql=RESET_TIMEOUTS),
        PostgreSQLOnlySQL(ADD_NOT_VALID, reverse_sql=DROP_NOT_VALID),
        migrations.RunPython(name_invisible_titles, migrations.RunPython.noop),
        PostgreSQLOnlySQL(VALIDATE_TITLE, reverse_sql=migrations.RunSQL.noop),
        migrations.RunPython(validate_description_limit, migrations.RunPython.noop),
        PostgreSQLOnlySQL(REPLACE_TITLE_CHECK, reverse_sql=RESTORE_TITLE_CHECK),
        PostgreSQLOnlySQL(RESET_TIMEOUTS, reverse_sql=SET_TIMEOUTS),
        # The model state, and the schema on SQLite.
        RemoveConstraint(model_name="task", name="task_title_not_blank"),
        AlterField(
            model_name="task",
            name="description",
            field=models.TextField(
                blank=True,
                default="",
                max_length=10000,
                validators=[
                    django.core.validators.ProhibitNullCharactersValidator(),
                    tasks.validators.validate_no_surrogates,
                    django.core.validators.MaxLengthValidator(10000),
                ],
                verbose_name="description",
            ),
        ),
        AlterField(
            model_name="task",
            name="title",
            field=models.CharField(
                max_length=200,
                validators=[
                    tasks.validators.validate_not_blank,
                    django.core.validators.ProhibitNullCharactersValidator(),
                    tasks.validators.validate_no_surrogates,
                ],
                verbose_name="title",
            ),
        ),
        AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=models.Q(("title__regex", VISIBLE_CHARACTER)),
                name="task_title_not_blank",
                violation_error_message="The title cannot be blank.",
            ),
        ),
        AddConstraint(
            model_name="task",
            constraint=models.CheckConstraint(
                condition=django.db.models.lookups.LessThanOrEqual(
                    django.db.models.functions.text.Length("description"),
                    DESCRIPTION_MAX_LENGTH,
                ),
                name="task_description_max_length",
                violation_error_message="The description is too long.",
            ),
        ),
    ]
