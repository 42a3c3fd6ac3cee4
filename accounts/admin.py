from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

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
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "password1", "password2"),
            },
        ),
    )

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
        url = reverse("admin:tasks_task_changelist") + f"?owner__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj._task_count)
