"""Who may see every user's tasks: the one permission question of the admin."""

from __future__ import annotations

TASK_ADMIN_PERMISSIONS = ("tasks.view_task", "tasks.change_task")


def may_see_all_tasks(user) -> bool:
    """Whether `user` is active staff who may view or change any task."""
    return (
        user.is_active
        and user.is_staff
        and any(user.has_perm(perm) for perm in TASK_ADMIN_PERMISSIONS)
    )
