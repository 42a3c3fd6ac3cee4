from __future__ import annotations

from contextlib import nullcontext

from django.urls import NoReverseMatch, reverse

from .permissions import may_see_all_tasks
from .scope import acting_as, staff_scope


class ActingUserMiddleware:
    """Run each request in the database scope of its authenticated user.

    Every statement of the request carries the acting user in its own round
    trip (``atomic=False``), so the request keeps Django's usual autocommit
    behaviour and the setting costs no extra round trip at all; services
    called by the view find the scope already in force. Staff who may view
    or change tasks get the staff scope inside the admin; anonymous
    requests get no scope, and so see no task at all. Must come after
    ``AuthenticationMiddleware``. A streaming response body is produced
    after this middleware returns and so sees no task: fail closed.
    """

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        with self.scope_for(request):
            return self.get_response(request)

    def scope_for(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return nullcontext()
        if self.is_admin(request) and may_see_all_tasks(user):
            return staff_scope(user, atomic=False)
        return acting_as(user, atomic=False)

    @staticmethod
    def is_admin(request) -> bool:
        try:
            prefix = reverse("admin:index")
        except NoReverseMatch:
            return False
        # reverse() includes the script prefix (a deployment under /todo/),
        # as request.path does and request.path_info does not.
        return request.path.startswith(prefix)
