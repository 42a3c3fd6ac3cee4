"""The scope of a request: whoever it is authenticated as, asked at each statement.

``ActingUserMiddleware`` opens it around every request. Authentication may
happen before the view (a session) or inside it (DRF sets ``request.user``
on the Django request when it authenticates; django-ninja keeps what its
auth returns in ``request.auth``), so the scope is resolved when a statement
runs, not when the request starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.db import connections

from .scope import (
    NOBODY,
    Scope,
    ScopeConflict,
    _Frame,
    _frames,
    _push,
    _remove,
    _resolving,
    _restore,
    _statement_wrappers,
    _user_scope,
)

__all__ = ["request_scope", "requests_authenticated_in_view"]


class _RequestFrame(_Frame):
    """The scope of a request: whoever it is authenticated as, when asked.

    DRF replaces ``request.user`` on the Django request when it
    authenticates inside the view, and django-ninja puts what its auth
    returns in ``request.auth``; reading both at each statement makes the
    scope follow. The answer is kept until either attribute changes.
    """

    from_request = True

    def __init__(self, request, staff_path: Callable[[Any], bool]) -> None:
        super().__init__(NOBODY, None, per_statement=True)
        self.request = request
        self.staff_path = staff_path
        # What AuthenticationMiddleware put there: the session's user.
        self.session_user = getattr(request, "user", None)
        self.seen: tuple[Any, Any] | None = None
        self.warned = False
        # A DRF or ninja view: credentials of its own may come with a session.
        self.in_view = False

    def resolve(self) -> Scope:
        user = getattr(self.request, "user", None)
        auth = getattr(self.request, "auth", None)
        if self.seen is not None and self.seen[0] is user and self.seen[1] is auth:
            return self.scope
        # Reading a lazy session user runs queries; they carry no scope.
        token = _resolving.set(True)
        try:
            self.scope = self._scope_of(user, auth)
        finally:
            _resolving.reset(token)
        self.seen = (user, auth)
        return self.scope

    def _scope_of(self, user, auth) -> Scope:
        if not _is_authenticated_user(auth):
            auth = None
        if user is not self.session_user and self._logged_in(user):
            # login() in this request: the session is now this user's.
            self.session_user = user
        identities = []
        for candidate in (self.session_user, user, auth):
            if _is_authenticated_user(candidate) and all(
                candidate.pk != seen.pk for seen in identities
            ):
                identities.append(candidate)
        if len(identities) > 1:
            names = " and ".join(str(_user_scope(who)) for who in identities)
            raise ScopeConflict(
                f"the request is authenticated as {names}: a request acts for "
                "one user only"
            )
        if (
            self.in_view
            and _is_authenticated_user(self.session_user)
            and self.request.headers.get("Authorization")
        ):
            raise ScopeConflict(
                "the request carries both a logged-in session and an "
                "Authorization header: a request acts for one user only"
            )
        # Once a framework has replaced the session's user, its answer is
        # the request's, anonymous included.
        acting = user if _is_authenticated_user(user) else auth
        if acting is None:
            return NOBODY
        from .permissions import may_manage_accounts, may_see_all_tasks

        scope = _user_scope(acting)
        if self.staff_path(self.request) and (
            may_see_all_tasks(acting) or may_manage_accounts(acting)
        ):
            return Scope(user_id=scope.user_id, name=scope.name, staff=True)
        return scope

    def _logged_in(self, user) -> bool:
        """Whether the request's session now belongs to `user` (login())."""
        session = getattr(self.request, "session", None)
        return (
            session is not None
            and _is_authenticated_user(user)
            and session.get(SESSION_KEY) == str(user.pk)
        )


def _is_authenticated_user(candidate) -> bool:
    # request.auth may hold a token, a dict or a string: only a user counts.
    return (
        getattr(candidate, "is_authenticated", False) is True
        and getattr(candidate, "pk", None) is not None
        and hasattr(candidate, "get_username")
    )


@contextmanager
def request_scope(
    request, *, staff_path: Callable[[Any], bool] = lambda request: False
) -> Iterator[None]:
    """Act, on every database, for whoever `request` is authenticated as.

    Asked at each statement: ``request.user`` (a session, or what DRF set
    after authenticating), or a user in ``request.auth`` (django-ninja).
    Nobody authenticated: no row. Two different users (a session of one, a
    token of another): ``ScopeConflict``, before any statement runs as
    either. `staff_path(request)` says whether staff who may see every
    task, or manage accounts, get the staff scope (the admin). No I/O on
    entry or exit, so it serves sync and async requests alike.
    """
    frame = _RequestFrame(request, staff_path)
    with _statement_wrappers(connections):
        _push(frame)
        try:
            yield
        finally:
            _remove(frame)
            if frame.touched:
                _restore(frame)


def requests_authenticated_in_view(request) -> None:
    """Note that `request`'s view authenticates itself (DRF, django-ninja).

    Such a view may pick a session or a header by its own rules; a request
    that carries both a logged-in session and an ``Authorization`` header is
    then refused (``ScopeConflict``) rather than served as either.
    """
    for frame in _frames.get():
        if isinstance(frame, _RequestFrame) and frame.request is request:
            frame.in_view = True
            frame.seen = None
