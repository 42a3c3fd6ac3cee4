from __future__ import annotations

import sys

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.db import connections
from django.urls import NoReverseMatch, reverse

from .liveness import close_transactions_left_open
from .requests import request_scope, requests_authenticated_in_view
from .scope import BACKEND, backend_everywhere


class ActingUserMiddleware:
    """Run each request in the database scope of whoever it is authenticated as.

    The user is asked at each statement, not once before the view: a
    session login (``AuthenticationMiddleware``), DRF's authentication
    inside the view (it sets ``request.user`` on the Django request too),
    or a user that django-ninja's auth returned (``request.auth``). Each
    statement carries the acting user in its own round trip, so the request
    keeps Django's usual autocommit behaviour; services called by the view
    find the scope already in force. Staff who may view or change tasks get
    the staff scope inside the admin; anonymous requests see no task at
    all. A request authenticated as two different users (a session cookie
    of one, a token of another) is refused with 403 (``ScopeConflict``)
    before any statement runs as either; so is a request to a DRF or
    django-ninja view that carries both a logged-in session and an
    ``Authorization`` header, whichever of them the view's authentication
    classes would pick.

    Must come after ``AuthenticationMiddleware``. Serves sync and async
    views without a thread hop. A streaming response body is produced after
    this middleware returns and so sees no task: fail closed.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)
            # Async views query from other threads, on connections of their
            # own: only the project's backend puts the wrapper on those.
            if not backend_everywhere(connections):
                raise ImproperlyConfigured(
                    "ActingUserMiddleware under ASGI needs every PostgreSQL "
                    f"database's ENGINE to be {BACKEND!r}"
                )

    def __call__(self, request):
        if self.is_async:
            # Connections there are the pool's, which rolls back what it
            # gets back inside a transaction.
            return self.__acall__(request)
        try:
            with request_scope(request, staff_path=self.is_admin):
                return self.get_response(request)
        finally:
            close_transactions_left_open()

    async def __acall__(self, request):
        with request_scope(request, staff_path=self.is_admin):
            return await self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if _authenticates_in_view(view_func):
            requests_authenticated_in_view(request)

    @staticmethod
    def is_admin(request) -> bool:
        try:
            prefix = reverse("admin:index")
        except NoReverseMatch:
            return False
        # reverse() includes the script prefix (a deployment under /todo/),
        # as request.path does and request.path_info does not.
        return request.path.startswith(prefix)


def _authenticates_in_view(view_func) -> bool:
    """Whether `view_func` is a DRF or django-ninja view, without importing either.

    Both authenticate inside the view, from credentials of their own
    (tokens, Basic, JWT) beside Django's session.
    """
    drf = sys.modules.get("rest_framework.views")
    view_class = getattr(view_func, "cls", None)
    if drf is not None and isinstance(view_class, type):
        return issubclass(view_class, drf.APIView)
    # django-ninja's views are closures made in its own module.
    return getattr(view_func, "__module__", "").startswith("ninja.")
