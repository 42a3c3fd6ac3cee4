"""Proofs that the application, not an injected statement, named the acting user.

The policies trust ``todoproject.user_id`` only with a valid
``todoproject.proof`` (ownership/policies.py): an HMAC-SHA256, under the
scope key, of the user id, the staff setting, an expiry and the backend's
pid. The runtime role can write any setting but cannot read the key, so a
statement injected into one user's request can act for that user (whose
proof it holds) and for no one else.

The key is derived from ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``, so
that rotating the secret key rotates it the Django way), and ``migrate``
installs it as the owner (``install_scope_keys``). A key that is no longer
derived from any of them stays valid for ``SCOPE_KEY_GRACE_SECONDS``, for
the processes still running the old settings, then goes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connections, transaction

from .policies import KEY_TABLE

logger = logging.getLogger(__name__)

# A proof is valid for this many seconds at least, and at most half as long
# again: expiries are rounded up so that one proof serves many statements.
LIFETIME_SECONDS = 30
_STEP = LIFETIME_SECONDS // 2
_BLOCK_SIZE = 64  # SHA-256's


def scope_key(secret: str) -> bytes:
    """Return the scope key derived from a secret key."""
    return hmac.new(
        secret.encode(), b"todoproject scope proof key", hashlib.sha256
    ).digest()


def fingerprint(key: bytes) -> str:
    """Return a name for `key` that tells nothing about it."""
    return hashlib.sha256(b"todoproject scope key fingerprint" + key).hexdigest()[:32]


def pads(key: bytes) -> tuple[bytes, bytes]:
    """Return HMAC's inner and outer pads of `key`, as the verifier keeps them."""
    padded = key.ljust(_BLOCK_SIZE, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


@lru_cache(maxsize=4096)
def _signed(secret: str, user_id: int, staff: str, expires: int, pid: int) -> str:
    message = f"{user_id}:{staff}:{expires}:{pid}".encode()
    signature = hmac.new(scope_key(secret), message, hashlib.sha256).hexdigest()
    return f"{expires}:{pid}:{signature}"


def proof(user_id: int, staff: str, pid: int, *, now: float | None = None) -> str:
    """Return the proof for acting as `user_id` on the backend `pid` (0: any)."""
    now = time.time() if now is None else now
    # Rounded up to the next step: the same proof for a while, and never
    # less than LIFETIME_SECONDS left.
    expires = (int(now) // _STEP + 3) * _STEP
    return _signed(settings.SECRET_KEY, user_id, staff, expires, pid)


def backend_pid(connection) -> int:
    """Return the pid a proof for `connection` binds to: 0 behind a pooler.

    Behind PgBouncer in transaction mode (``DISABLE_SERVER_SIDE_CURSORS``,
    which that mode needs anyway) each transaction may run on another
    server connection, whose pid the application cannot know.
    """
    if connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS"):
        return 0
    return connection.connection.info.backend_pid


def _secrets() -> list[str]:
    try:
        current = settings.SECRET_KEY
    except ImproperlyConfigured:
        current = ""  # Unset: Django refuses to read an empty one.
    secrets = [current, *getattr(settings, "SECRET_KEY_FALLBACKS", ())]
    # A key derived from an empty secret is a key anyone can derive.
    return [secret for secret in secrets if secret]


def install_scope_keys(using: str, *, verbosity: int = 1) -> None:
    """Install the keys of the current settings; retire the others.

    Run as the owner (``migrate``, ``restore``). Keys no longer derived from
    the secret key or its fallbacks keep working for
    ``settings.SCOPE_KEY_GRACE_SECONDS``, then are deleted.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    secrets = _secrets()
    if not secrets:
        logger.warning(
            "no scope key installed: DJANGO_SECRET_KEY is not set, and until "
            "a migrate with it the policies show no user any task"
        )
        return
    keys = {fingerprint(key): pads(key) for key in map(scope_key, secrets)}
    grace = int(getattr(settings, "SCOPE_KEY_GRACE_SECONDS", 3600))
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [KEY_TABLE])
        if not cursor.fetchone()[0]:
            return  # Migrated to before the key table: nothing to sign for.
        for name, (inner, outer) in keys.items():
            cursor.execute(
                f"INSERT INTO {KEY_TABLE} (fingerprint, inner_pad, outer_pad) "
                "VALUES (%s, %s, %s) ON CONFLICT (fingerprint) "
                "DO UPDATE SET retire_at = NULL",
                [name, inner, outer],
            )
        # A grace period starts once; a shorter one set later (a key that
        # leaked: 0) applies at once, a longer one never extends it.
        cursor.execute(
            f"UPDATE {KEY_TABLE} SET retire_at = least("
            "coalesce(retire_at, 'infinity'), now() + make_interval(secs => %s)) "
            "WHERE NOT fingerprint = ANY (%s)",
            [grace, list(keys)],
        )
        retired = cursor.rowcount
        cursor.execute(f"DELETE FROM {KEY_TABLE} WHERE retire_at <= now()")
    if verbosity >= 1 and retired:
        logger.warning(
            "%s scope key(s) no longer derived from SECRET_KEY or its fallbacks "
            "stay valid for at most %s s",
            retired,
            grace,
        )


def install_after_migrate(sender, using, verbosity=1, **kwargs) -> None:
    """``post_migrate`` receiver: install the scope keys on database `using`."""
    install_scope_keys(using, verbosity=verbosity)
