"""The user admin: Django's, with the email asked for when adding a user.

The accounts app knows nothing of tasks: the task parts of this admin (each
user's task count, a link to their tasks, what deleting a user does to
them) are added by tasks/admin.py, which registers its subclass in place of
this one.
"""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from .models import User


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_staff")
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "password1", "password2"),
            },
        ),
    )
