"""Django REST framework: the data layer's errors as HTTP answers.

Named in ``settings.REST_FRAMEWORK["EXCEPTION_HANDLER"]``; only DRF imports
this module, so nothing here is imported where DRF is absent. The acting
user needs nothing from DRF: ``ActingUserMiddleware`` follows whoever DRF
authenticates (ownership/scope.py).

- ``ObjectDoesNotExist`` (``Task.DoesNotExist`` from a service, a task
  another scope cannot see): 404, with DRF's own "Not found." and nothing
  about whose it is;
- Django's ``ValidationError`` (the services' and ``full_clean()``'s): 400
  with the errors per field, as a serializer's would be;
- ``ScopeConflict`` (two identities in one request, or another user's scope
  asked for inside this one): 403, its details in the log only.
"""

from __future__ import annotations

import logging

from django.core.exceptions import ObjectDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from .scope import ScopeConflict

logger = logging.getLogger(__name__)

__all__ = ["exception_handler"]


def exception_handler(exc, context):
    """Answer the data layer's exceptions as DRF's, then as DRF would."""
    if isinstance(exc, ScopeConflict):
        logger.warning("refused: %s", exc)
        exc = exceptions.PermissionDenied("This request acts for one user only.")
    elif isinstance(exc, (ObjectDoesNotExist, Http404)):
        # One answer, whoever's the row and however it was looked up.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    return drf_exception_handler(exc, context)
