"""Reads of owned rows with no scope in force: they see nothing, so say so."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections

from .scope import NOBODY, UnscopedQuery, _frames, current_scope

__all__ = ["require_scope"]

logger = logging.getLogger(__name__)
_warned_outside_requests = False


def require_scope(using: str, model) -> None:
    """Warn, or raise ``UnscopedQuery``, when `model` is read with no scope.

    ``settings.UNSCOPED_QUERIES``: "warn" (one warning per request, or per
    process outside requests: a ``manage.py shell`` session), "error" (the
    test suite), or "ignore".
    """
    global _warned_outside_requests
    if current_scope(using) != NOBODY or connections[using].vendor != "postgresql":
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
