import json

from django.contrib import admin, messages
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ownership.permissions import may_see_all_tasks

from .models import Task
from .pagination import EstimatedCountPaginator


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

    @admin.action(description=_("Mark selected tasks as done"))
    def mark_done(self, request, queryset):
        self._set_completed(request, queryset, completed=True)

    @admin.action(description=_("Mark selected tasks as not done"))
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
