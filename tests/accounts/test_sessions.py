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
from django.test import Client
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


def copy_session_data(to_key: str, from_digest: str) -> None:
    """Put a row's data under `to_key`, as a statement in a request could."""
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO accounts_session (session_key, session_data, expire_date) "
            "SELECT %s, session_data, expire_date FROM accounts_session "
            "WHERE session_key = %s",
            [str(key_digest(to_key)), from_digest],
        )


def test_session_data_copied_under_a_chosen_key_logs_nobody_in(
    client, admin_user, caplog
):
    client.force_login(admin_user)
    (digest,) = stored_keys()
    copy_session_data("a-key-the-attacker-chose", digest)

    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = "a-key-the-attacker-chose"
    response = attacker.get(ADMIN)

    assert response.status_code == 302
    assert "Session data corrupted" in caplog.text
    assert client.get(ADMIN).status_code == 200


def test_session_data_moved_to_another_users_row_logs_them_in_as_nobody(
    client, admin_user, user
):
    client.force_login(admin_user)
    (admins,) = stored_keys()
    victim = Client()
    victim.force_login(user)
    (victims,) = set(stored_keys()) - {admins}
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE accounts_session SET session_data = "
            "(SELECT session_data FROM accounts_session WHERE session_key = %s) "
            "WHERE session_key = %s",
            [admins, victims],
        )

    response = victim.get(ADMIN)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_row_decodes_its_own_data(client, admin_user):
    client.force_login(admin_user)

    (row,) = Session.objects.all()

    assert row.get_decoded()["_auth_user_id"] == str(admin_user.pk)


def test_the_managers_save_signs_for_its_key():
    tomorrow = timezone.now() + timedelta(days=1)
    Session.objects.save("a-key-of-our-own", {"answer": 42}, tomorrow)

    assert SessionStore(session_key="a-key-of-our-own")["answer"] == 42
