"""
Parsing of the environment for todoproject/settings.py.

The settings module reads every variable; these functions only turn a raw
value into a setting, or refuse it with one line naming the variable
(``ImproperlyConfigured``, which manage.py prints as
``Configuration error: ...``).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

POSTGRESQL = "django.db.backends.postgresql"
SQLITE = "django.db.backends.sqlite3"
SUPPORTED_ENGINES = {POSTGRESQL, SQLITE}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    """Return the boolean environment variable `name`, or `default` if unset."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name} must be a boolean (true/false, 1/0, yes/no, on/off), got {raw!r}."
    )


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    """Return the integer environment variable `name`, or `default` if unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}.") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}.")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    """Return the comma-separated environment variable `name` as a list."""
    raw = os.environ.get(name, default)
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(name: str, url: str) -> dict:
    """Parse the database URL held in the variable `name` into a Django dict.

    The error names the variable and what is wrong but never echoes the URL,
    which may carry a password.
    """
    try:
        config = dj_database_url.parse(url)
    except dj_database_url.UnknownSchemeError as exc:
        scheme = f"{exc.scheme}://" if exc.scheme else "no scheme"
        raise ImproperlyConfigured(
            f"{name} has an unsupported scheme ({scheme}); "
            "use postgres://user:password@host:port/dbname or sqlite:///path."
        ) from None
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} is not a valid database URL; "
            "expected postgres://user:password@host:port/dbname "
            "(percent-encode special characters in the password)."
        ) from None
    if config["ENGINE"] not in SUPPORTED_ENGINES:
        raise ImproperlyConfigured(
            f"{name} points at {config['ENGINE']}, which this project does not "
            "support; use PostgreSQL (postgres://) or SQLite (sqlite:///)."
        )
    if config["ENGINE"] == POSTGRESQL and not config.get("NAME"):
        raise ImproperlyConfigured(
            f"{name} names no database; add it to the path, e.g. .../todoproject."
        )
    return config


def development_secret_key(path: Path) -> str:
    """Return the key kept in `path`, generating it on the first call."""
    from django.core.management.utils import get_random_secret_key

    try:
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(f"django-insecure-{get_random_secret_key()}\n")
        # A link never replaces: of two processes starting at once, one
        # key wins, complete, and both read it.
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
        return path.read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"cannot keep the development secret key in {path}: "
            f"{exc.strerror}; set DJANGO_SECRET_KEY instead"
        ) from None
