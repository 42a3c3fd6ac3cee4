"""Who gets the staff scope in the admin: the permission questions it asks."""

from __future__ import annotations

from django.contrib.auth import get_permission_codename, get_user_model

TASK_ADMIN_PERMISSIONS = ("tasks.view_task", "tasks.change_task")


def may_see_all_tasks(user) -> bool:
    """Whether `user` is active staff who may view or change any task."""
    return (
        user.is_active
        and user.is_staff
        and any(user.has_perm(perm) for perm in TASK_ADMIN_PERMISSIONS)
    )


def account_admin_permissions() -> tuple[str, ...]:
    """Return the permissions that manage accounts: users' and groups' writes."""
    user_model = get_user_model()
    group = user_model._meta.get_field("groups").related_model
    return tuple(
        f"{model._meta.app_label}.{get_permission_codename(action, model._meta)}"
        for model in (user_model, group)
        for action in ("add", "change", "delete")
    )


def may_manage_accounts(user) -> bool:
    """Whether `user` is active staff who may add, change or delete users or groups.

    The database checks each write against the one permission it needs
    (ownership/guards.py); this only says whether the admin's requests carry
    the staff flag that those checks read.
    """
    return (
        user.is_active
        and user.is_staff
        and any(user.has_perm(perm) for perm in account_admin_permissions())
    )
