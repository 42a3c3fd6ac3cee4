"""Sessions whose keys the database never holds: only their SHA-256 digests.

The runtime role reads the session table (every request does), and so can
a statement injected into one: with Django's own table it would read every
session key, staff sessions included, and a key is a login. Here the table
(``accounts_session``) holds ``sha256(key)``: the browser's cookie still
carries the key, every lookup hashes it first, and a digest read from the
table opens nothing (a cookie holding one is hashed again and matches no
row).

The runtime role also writes the table, so the data of a row must not
work under another key: Django signs session data with a salt that is the
same for every session, and a copy of a superuser's data into a row of a
key the attacker chose would log them in. Here the salt names the row's
digest, so data signed for one row decodes under no other (Django then
sees an empty session, and logs the corrupted data).

Nothing else changes: the store is Django's database store with a model
of its own, as Django documents for extending it (``SESSION_ENGINE =
"accounts.sessions"``); ``clearsessions`` works as before.
"""

from __future__ import annotations

import hashlib

from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.db import models


class KeyDigest(str):
    """A session key's digest, as the table holds it (read from a row)."""


def key_digest(key: str) -> KeyDigest:
    """Return the digest the table holds for session key `key`."""
    return KeyDigest(hashlib.sha256(key.encode()).hexdigest())


class SessionKeyDigestField(models.TextField):
    """The primary key: a key given to the ORM is stored and looked up hashed.

    What a row gives back is a `KeyDigest`, which is not hashed again, so
    that deleting or saving a session read from the table finds its row.
    """

    def db_type(self, connection):
        # Always 64 hex digits. Not text: Django would give a text primary
        # key a second index, for LIKE, that no lookup here uses.
        return "char(64)"

    def from_db_value(self, value, expression, connection):
        return None if value is None else KeyDigest(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or isinstance(value, KeyDigest):
            return value
        return key_digest(value)


class SessionStore(DatabaseStore):
    """Django's database session store, on ``accounts.models.Session``."""

    def __init__(self, session_key=None, *, digest: KeyDigest | None = None):
        super().__init__(session_key)
        # The row's digest, when the data comes from a row and not a key.
        self._digest = digest

    @property
    def key_salt(self):
        # Signed data names the row it belongs to (the module's docstring).
        if self._digest is not None:
            digest = self._digest
        elif self.session_key is not None:
            digest = key_digest(self.session_key)
        else:
            digest = ""
        return f"{super().key_salt}:{digest}"

    @classmethod
    def get_model_class(cls):
        from .models import Session

        return Session
