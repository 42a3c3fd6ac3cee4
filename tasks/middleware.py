from __future__ import annotations

from contextlib import nullcontext

from django.urls import NoReverseMatch, reverse

from .rls import acting_as, system_scope

TASK_ADMIN_PERMISSIONS = ("tasks.view_task", "tasks.change_task")


class ActingUserMiddleware:
    """Run each request in the database scope of its authenticated user.

    The whole request becomes one transaction that starts with the acting
    user set, so the services and any query the view makes cost no extra
    round trip for it. Staff who may view or change tasks get the system
    scope inside the admin; anonymous requests get no scope, and so see no
    task at all. Must come after ``AuthenticationMiddleware``.
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
        if self.is_admin(request) and self.may_see_all_tasks(user):
            return system_scope()
        return acting_as(user)

    @staticmethod
    def is_admin(request) -> bool:
        try:
            prefix = reverse("admin:index")
        except NoReverseMatch:
            return False
        return request.path_info.startswith(prefix)

    @staticmethod
    def may_see_all_tasks(user) -> bool:
        return (
            user.is_active
            and user.is_staff
            and any(user.has_perm(perm) for perm in TASK_ADMIN_PERMISSIONS)
        )
