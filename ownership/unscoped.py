"""Reads of owned rows with no scope in force: they see nothing, so say so."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import connections

from .scope import NOBODY, UnscopedQuery, _frames, current_scope

__all__ = ["require_scope", "unscoped_on_purpose"]

logger = logging.getLogger(__name__)
_warned_outside_requests = False
_on_purpose: ContextVar[bool] = ContextVar("todoproject_unscoped", default=False)


@contextmanager
def unscoped_on_purpose() -> Iterator[None]:
    """Let the block read owned tables with no scope in force, unreported.

    For the few reads meant to run so: ``migrate`` (a released migration's
    ``RunPython`` reads historical models as the owner, some before
    row-level security existed), or a check that the runtime role sees
    nothing. Grep for it to audit it.
    """
    token = _on_purpose.set(True)
    try:
        yield
    finally:
        _on_purpose.reset(token)


def require_scope(using: str, model) -> None:
    """Warn, or raise ``UnscopedQuery``, when `model` is read with no scope.

    ``settings.UNSCOPED_QUERIES``: "warn" (one warning per request, or per
    process outside requests: a ``manage.py shell`` session), "error" (the
    test suite), or "ignore".
    """
    global _warned_outside_requests
    if (
        _on_purpose.get()
        or current_scope(using) != NOBODY
        or connections[using].vendor != "postgresql"
    ):
        return
    policy = getattr(settings, "UNSCOPED_QUERIES", "warn")
    if policy == "ignore":
        return
    message = (
        f"a query of {model._meta.verbose_name_plural} ran with no scope in "
        "force, and row-level security shows it no row: use the services, "
        "Model.objects.for_owner(user) or acting_as(user)"
    )
    if policy == "error":
        raise UnscopedQuery(message)
    request = next((f for f in reversed(_frames.get()) if f.from_request), None)
    if request is not None:
        if not request.warned:
            request.warned = True
            logger.warning("%s (request %s)", message, request.request.path)
    elif not _warned_outside_requests:
        _warned_outside_requests = True
        logger.warning("%s", message)
