"""django-ninja: the data layer's errors as HTTP answers.

``register_error_handlers(api)`` once, beside ``NinjaAPI()``; only a project
that uses django-ninja imports this module. The acting user needs one thing
from ninja: an auth class whose ``authenticate()`` returns the user (ninja
keeps it in ``request.auth``, which ``ActingUserMiddleware`` reads).

The answers are those of ownership/drf.py: not found 404, validation 400
with the errors per field, a scope conflict 403.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError

from .scope import ScopeConflict

logger = logging.getLogger(__name__)

__all__ = ["register_error_handlers"]


def register_error_handlers(api) -> None:
    """Make `api` (a ``NinjaAPI``) answer the data layer's exceptions."""

    def not_found(request, exc):
        return api.create_response(request, {"detail": "Not found."}, status=404)

    def invalid(request, exc):
        if hasattr(exc, "error_dict"):
            errors = exc.message_dict
        else:
            errors = {"non_field_errors": exc.messages}
        return api.create_response(request, errors, status=400)

    def conflict(request, exc):
        logger.warning("refused: %s", exc)
        detail = "This request acts for one user only."
        return api.create_response(request, {"detail": detail}, status=403)

    api.add_exception_handler(ObjectDoesNotExist, not_found)
    api.add_exception_handler(DjangoValidationError, invalid)
    api.add_exception_handler(ScopeConflict, conflict)
