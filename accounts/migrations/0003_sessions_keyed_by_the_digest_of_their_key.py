"""Sessions keyed by the SHA-256 digest of their key (issue 24).

Django's ``django_session`` holds each session key in clear, and the
runtime role reads it: a statement injected into one request could read
every session key, staff sessions included, and log in as their users.
``accounts_session`` holds ``sha256(key)`` instead (accounts/sessions.py);
``SESSION_ENGINE = "accounts.sessions"`` uses it. Sessions made before are
left where they were and no longer count: everyone logs in once more.
"""

from django.db import migrations, models

import accounts.sessions
from ownership.operations import PostgreSQLOnlySQL

TIMEOUTS = "SET LOCAL lock_timeout = '5s'; SET LOCAL statement_timeout = '60s';"


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_cascade_user_foreign_keys"),
    ]

    operations = [
        PostgreSQLOnlySQL(TIMEOUTS, reverse_sql=TIMEOUTS),
        migrations.CreateModel(
            name="Session",
            fields=[
                ("session_data", models.TextField(verbose_name="session data")),
                (
                    "expire_date",
                    models.DateTimeField(db_index=True, verbose_name="expire date"),
                ),
                (
                    "session_key",
                    accounts.sessions.SessionKeyDigestField(
                        primary_key=True,
                        serialize=False,
                        verbose_name="session key digest",
                    ),
                ),
            ],
            options={
                "verbose_name": "session",
                "verbose_name_plural": "sessions",
                "db_table": "accounts_session",
                "abstract": False,
            },
        ),
    ]
