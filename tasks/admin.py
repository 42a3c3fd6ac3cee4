import json
from functools import partial

from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_permission_codename, get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import smart_split, unescape_string_literal
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.admin import UserAdmin as AccountsUserAdmin
from accounts.models import User
from ownership.permissions import may_see_all_tasks
from ownership.scope import staff_scope

from . import search
from .models import Task
from .pagination import EstimatedCountPaginator

# A search word matching more owners or titles than this is looked up as a
# subquery or a LIKE rather than as a list of ids.
MAX_LISTED_IDS = 10_000


# Search fields that read the owner's row beyond what the changelist shows
# (the owner column shows the username): only for staff who may view users,
# or a search for an address would tell whether it belongs to anyone.
USER_DATA_SEARCH_FIELDS = ("owner__email",)


def _may_view_users(user) -> bool:
    """Whether `user` may view users in the admin (view or change, as Django)."""
    opts = get_user_model()._meta
    return any(
        user.has_perm(f"{opts.app_label}.{get_permission_codename(action, opts)}")
        for action in ("view", "change")
    )


def _owners(word: str, fields: list[str]):
    """The users any of whose `fields` contains `word`, ignoring case."""
    condition = Q()
    for field in fields:
        condition |= Q(**{f"{field}__icontains": word})
    return get_user_model()._default_manager.filter(condition)


def _owners_named(word: str, fields: list[str]) -> list[int] | None:
    """The ids of `_owners()`, or None when there are more than a list's worth."""
    if not fields:
        return []
    owners = _owners(word, fields).values_list("pk", flat=True)
    ids = list(owners[: MAX_LISTED_IDS + 1])
    return ids if len(ids) <= MAX_LISTED_IDS else None


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "owner", "completed", "created_at", "updated_at")
    list_display_links = ("title",)
    # created_at's filter offers fixed ranges (today, past 7 days, this
    # month, this year) served by task_created_idx, and costs no query to
    # draw; a date_hierarchy would run a SELECT DISTINCT over the whole
    # table on every page.
    list_filter = ("completed", "created_at")
    list_select_related = ("owner",)
    search_fields = ("title", "owner__username", "owner__email")
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("-created_at", "-id")
    actions = ("mark_done", "mark_not_done")
    fields = ("title", "description", "completed", "owner", "created_at", "updated_at")
    list_per_page = 50
    # On a million rows, counting is what makes a changelist slow: the
    # unfiltered total is the planner's estimate (EstimatedCountPaginator),
    # and the "N total" beside a filtered count is not computed at all.
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    # Staff who may add tasks but neither view nor change them act in the
    # admin as themselves alone (ActingUserMiddleware), and row-level
    # security refuses a task they would add for anyone else: a database
    # error, a 500. So they are offered one owner, themselves, in a plain
    # select (the owner autocomplete needs the user view permission), and
    # another owner is a form error on that field.

    # The admin's history (django_admin_log) names each object by str(obj),
    # a task's title, in a table without row-level security that the
    # runtime role reads: name tasks by id there instead.
    def log_addition(self, request, obj, message):
        return self._log(request, [obj], ADDITION, message)[0]

    def log_change(self, request, obj, message):
        return self._log(request, [obj], CHANGE, message)[0]

    def log_deletions(self, request, queryset):
        return self._log(request, queryset, DELETION, "")

    @staticmethod
    def _log(request, tasks, action_flag, message) -> list[LogEntry]:
        if isinstance(message, list):
            message = json.dumps(message)
        content_type = ContentType.objects.get_for_model(Task)
        return LogEntry.objects.bulk_create(
            LogEntry(
                user_id=request.user.pk,
                content_type_id=content_type.pk,
                object_id=str(task.pk),
                object_repr=_("task %(id)s") % {"id": task.pk},
                action_flag=action_flag,
                change_message=message,
            )
            for task in tasks
        )

    def get_search_fields(self, request):
        fields = super().get_search_fields(request)
        if _may_view_users(request.user):
            return fields
        return tuple(f for f in fields if f not in USER_DATA_SEARCH_FIELDS)

    def get_search_results(self, request, queryset, search_term):
        # Django's search is a LIKE on every task: a scan of the table. For
        # staff who see every task, titles are looked up in the trigram
        # index (tasks/search.py) and owners in the users table, and the
        # search becomes a condition on task ids and owner ids, which
        # PostgreSQL answers from indexes under row-level security. Words
        # in very many titles stay a LIKE: reading the newest tasks until a
        # page is full is then quicker than a list of ids. Everyone else
        # sees only their own tasks, a small set.
        if (
            not search_term
            or connections[queryset.db].vendor != "postgresql"
            or not may_see_all_tasks(request.user)
        ):
            return super().get_search_results(request, queryset, search_term)
        words = [
            unescape_string_literal(word)
            if word.startswith(('"', "'")) and word[0] == word[-1]
            else word
            for word in smart_split(search_term)
        ]
        if not words:
            return queryset, False
        # The owner's fields this user may search, as Django's search would.
        owner_fields = [
            field.removeprefix("owner__")
            for field in self.get_search_fields(request)
            if field.startswith("owner__")
        ]
        owners = [_owners_named(word, owner_fields) for word in words]
        titled = partial(
            search.task_ids_titled, limit=MAX_LISTED_IDS, using=queryset.db
        )
        if all(ids == [] for ids in owners):
            # No word names an owner: every word is in the title.
            task_ids = titled(words)
            if task_ids is None:
                return super().get_search_results(request, queryset, search_term)
            return queryset.filter(pk__in=task_ids), False
        for word, owner_ids in zip(words, owners, strict=True):
            task_ids = titled([word])
            in_title = (
                Q(title__icontains=word) if task_ids is None else Q(pk__in=task_ids)
            )
            owned = Q(
                owner__in=_owners(word, owner_fields)
                if owner_ids is None
                else owner_ids
            )
            queryset = queryset.filter(in_title | owned)
        return queryset, False

    def get_autocomplete_fields(self, request):
        if not may_see_all_tasks(request.user):
            return ()
        return super().get_autocomplete_fields(request)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "owner" and not may_see_all_tasks(request.user):
            kwargs["queryset"] = db_field.related_model._default_manager.filter(
                pk=request.user.pk
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        if not may_see_all_tasks(request.user):
            initial.setdefault("owner", request.user.pk)
        return initial

    # Staff who may only view tasks are not offered the actions, and
    # Django refuses them if posted anyway.
    @admin.action(description=_("Mark selected tasks as done"), permissions=["change"])
    def mark_done(self, request, queryset):
        self._set_completed(request, queryset, completed=True)

    @admin.action(
        description=_("Mark selected tasks as not done"), permissions=["change"]
    )
    def mark_not_done(self, request, queryset):
        self._set_completed(request, queryset, completed=False)

    def _set_completed(self, request, queryset, *, completed: bool) -> None:
        # One UPDATE for the whole selection; rows already in that state are
        # left alone so the count reports what really changed.
        changed = queryset.exclude(completed=completed).update(
            completed=completed, updated_at=timezone.now()
        )
        state = _("done") if completed else _("not done")
        self.message_user(
            request,
            ngettext(
                "%(count)d task marked as %(state)s.",
                "%(count)d tasks marked as %(state)s.",
                changed,
            )
            % {"count": changed, "state": state},
            messages.SUCCESS,
        )


# The user admin's task parts live here, with the tasks: accounts sits below
# tasks and imports nothing of them, so tasks extends the accounts app's
# user admin and registers the extension in its place (the way Django's
# documentation extends the User admin).
class UserAdmin(AccountsUserAdmin):
    list_display = (*AccountsUserAdmin.list_display, "task_count")
    readonly_fields = ("tasks_link",)

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


admin.site.unregister(User)
admin.site.register(User, UserAdmin)


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
