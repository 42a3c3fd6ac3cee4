"""Sessions keyed by the digest of their key (accounts/sessions.py).

What the runtime role reads of the session table must not log anyone in:
the table holds SHA-256 digests, the cookie the key.
"""

import hashlib
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import Session
from accounts.sessions import SessionStore, key_digest

pytestmark = pytest.mark.django_db

ADMIN = "/admin/"


def stored_keys() -> list[str]:
    """Return the session keys as the table holds them, read in plain SQL."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key FROM accounts_session")
        return [key for (key,) in cursor.fetchall()]


def test_the_table_holds_the_digest_of_the_cookies_key(client, admin_user):
    client.force_login(admin_user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value

    assert stored_keys() == [hashlib.sha256(key.encode()).hexdigest()]
    assert client.get(ADMIN).status_code == 200


def test_a_digest_read_from_the_table_logs_nobody_in(client, admin_user):
    client.force_login(admin_user)
    (digest,) = stored_keys()

    client.cookies[settings.SESSION_COOKIE_NAME] = digest
    response = client.get(ADMIN)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_logging_out_deletes_the_row(client, admin_user):
    client.force_login(admin_user)
    assert len(stored_keys()) == 1

    client.post("/admin/logout/")

    assert stored_keys() == []


def test_a_session_changes_and_is_read_again():
    store = SessionStore()
    store["answer"] = 42
    store.create()
    store["answer"] = 43
    store.save()

    again = SessionStore(session_key=store.session_key)

    assert again["answer"] == 43
    assert again.exists(store.session_key)
    # The digest as a cookie would bring it: a plain string, hashed again.
    assert not again.exists(str(key_digest(store.session_key)))


def test_a_session_read_from_the_table_deletes_its_row():
    store = SessionStore()
    store["answer"] = 42
    store.create()

    (row,) = Session.objects.all()
    row.delete()

    assert stored_keys() == []


def test_clearsessions_deletes_expired_sessions_only():
    kept, expired = SessionStore(), SessionStore()
    for store in (kept, expired):
        store["answer"] = 42
        store.create()
    Session.objects.filter(session_key=expired.session_key).update(
        expire_date=timezone.now() - timedelta(days=1)
    )

    call_command("clearsessions")

    assert stored_keys() == [key_digest(kept.session_key)]
