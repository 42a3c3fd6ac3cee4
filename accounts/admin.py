from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from ownership.permissions import may_see_all_tasks
from ownership.scope import staff_scope
from tasks.models import Task

from .models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = (
        "username",
        "email",
        "first_name",
        "last_name",
        "is_staff",
        "task_count",
    )
    readonly_fields = ("tasks_link",)
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "password1", "password2"),
            },
        ),
    )

    # Beyond this many tasks the delete confirmation says how many instead of
    # listing each one (the database cascade removes them either way).
    DELETE_LIST_LIMIT = 100

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or not may_see_tasks(request):
            return fieldsets
        return (*fieldsets, (_("Tasks"), {"fields": ("tasks_link",)}))

    def get_list_display(self, request):
        # Without the task permission the admin acts as the staff member
        # alone, and every other user's count would read 0.
        list_display = super().get_list_display(request)
        if may_see_tasks(request):
            return list_display
        return tuple(name for name in list_display if name != "task_count")

    def get_queryset(self, request):
        # A correlated subquery rather than JOIN ... GROUP BY: still one query
        # for the whole page, but PostgreSQL counts only the rows on the page
        # (through the owner index) instead of aggregating every task first.
        task_count = (
            Task.objects.filter(owner=OuterRef("pk"))
            .order_by()
            .values("owner")
            .annotate(n=Count("*"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                _task_count=Coalesce(
                    Subquery(task_count, output_field=IntegerField()), 0
                )
            )
        )

    @admin.display(description=_("tasks"), ordering="_task_count")
    def task_count(self, obj: User):
        return format_html('<a href="{}">{}</a>', tasks_url(obj), obj._task_count)

    @admin.display(description=_("tasks"))
    def tasks_link(self, obj: User):
        return format_html(
            '<a href="{}">{}</a>',
            tasks_url(obj),
            _("%(count)s tasks of %(user)s")
            % {"count": obj._task_count, "user": obj.username},
        )

    def get_deleted_objects(self, objs, request):
        # Deleting a user deletes their tasks (the database cascades past
        # row-level security): without tasks.delete_task the deletion is
        # refused rather than silently taking the tasks along.
        objs = list(objs)
        if may_see_tasks(request):
            with staff_scope(request.user):
                return self._deleted_objects(objs, request)
        # The database shows this staff member no other user's task, so it
        # cannot count them either: name the users, show no task at all.
        deleted = [format_html("{}: {}", _("User"), user) for user in objs]
        deleted.append(_("their tasks, if they have any (you may not view tasks)"))
        model_count = {User._meta.verbose_name_plural: len(objs)}
        return deleted, model_count, tasks_perms_needed(request), []

    def _deleted_objects(self, objs, request):
        task_count = Task.objects.filter(owner__in=objs).count()
        if task_count <= self.DELETE_LIST_LIMIT:
            return super().get_deleted_objects(objs, request)
        # Listing thousands of tasks would load every one of them into the
        # page; name the users and count their tasks instead.
        deleted = [
            format_html('{}: <a href="{}">{}</a>', _("User"), tasks_url(user), user)
            for user in objs
        ]
        deleted.append(
            _("%(count)s tasks of these users (not listed)") % {"count": task_count}
        )
        model_count = {
            User._meta.verbose_name_plural: len(objs),
            Task._meta.verbose_name_plural: task_count,
        }
        return deleted, model_count, tasks_perms_needed(request), []


def tasks_perms_needed(request) -> set:
    """Deleting users takes their tasks along: that needs tasks.delete_task."""
    if request.user.has_perm("tasks.delete_task"):
        return set()
    return {Task._meta.verbose_name}


def may_see_tasks(request) -> bool:
    """Whether the admin shows `request.user` every user's tasks."""
    return may_see_all_tasks(request.user)


def tasks_url(user: User) -> str:
    """Return the admin changelist of `user`'s tasks."""
    return reverse("admin:tasks_task_changelist") + f"?owner__id__exact={user.pk}"
