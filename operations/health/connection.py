"""The checks' own connections, and connection errors in one line.

Every connection a health check uses (to the database checked, to the
primary for its WAL position, to each replica) is made by
``private_connection``: never the command's or a request's own connection,
which may be in a transaction, and never a pooled one, which would stay
open after the checks.
"""

from __future__ import annotations

import ipaddress
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from django.db.utils import load_backend


def private_connection(settings_dict: Mapping[str, Any], alias: str, timeout: float):
    """Return a new, unopened Django connection for `settings_dict`.

    On PostgreSQL it gives up connecting after `timeout` (libpq counts whole
    seconds; a caller that needs the fraction keeps its own deadline) and
    opens no pool.
    """
    settings_dict = {**settings_dict, "OPTIONS": {**settings_dict.get("OPTIONS", {})}}
    wrapper = load_backend(settings_dict["ENGINE"]).DatabaseWrapper
    if wrapper.vendor == "postgresql":
        options = settings_dict["OPTIONS"]
        options["connect_timeout"] = max(1, math.ceil(timeout))
        options.pop("pool", None)
    return wrapper(settings_dict, alias)


# Connection errors, reduced to one line that names the reason.
_PREFIXES = re.compile(
    r"^(connection failed: |connection is bad: )?"
    r"(connection to server (at \"[^\"]*\"( \([^)]*\))?, port \d+|on socket \"[^\"]*\")"
    r" failed: )?(FATAL: +)?",
)


def first_line(exc: BaseException, settings_dict: Mapping[str, Any]) -> str:
    """Return the first line of `exc`'s message, with no password in it."""
    text = str(exc).strip()
    line = _PREFIXES.sub("", text.splitlines()[0] if text else "").strip()
    password = str(settings_dict.get("PASSWORD") or "")
    if len(password) >= 3:
        line = line.replace(password, "***")
    return line or type(exc).__name__


def describe_connect_error(
    exc: BaseException, settings_dict: Mapping[str, Any], timeout: float
) -> str:
    """Say in one line why connecting failed, e.g. "connection refused at h:5432"."""
    line = first_line(exc, settings_dict)
    here = where(settings_dict)
    lowered = line.lower()
    if "connection refused" in lowered:
        return f"connection refused at {here}"
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"no answer from {here} within {seconds(timeout)}"
    if (
        "failed to resolve host" in lowered
        or "could not translate host name" in lowered
        or "name or service not known" in lowered
    ):
        return f"unknown host {settings_dict.get('HOST')} (name resolution failed)"
    if here in line:
        return line
    return f"{line} at {here}"


def where(settings_dict: Mapping[str, Any]) -> str:
    """Return the server of `settings_dict` as messages name it."""
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return str(settings_dict.get("NAME"))
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "5432")
    if not host or host.startswith("/"):
        return f"local socket {host or '(default)'}, port {port}"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def is_local(host: str) -> bool:
    """Whether `host` is a socket folder or a loopback address."""
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def seconds(value: float) -> str:
    return f"{value:g} s"


def ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
