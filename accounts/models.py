from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _


class UserManager(DjangoUserManager):
    """Django's user manager, with an email that is always required."""

    def create_user(self, username, email=None, password=None, **extra_fields):
        _require_email(email)
        return super().create_user(username, email, password, **extra_fields)

    def create_superuser(self, username, email=None, password=None, **extra_fields):
        _require_email(email)
        return super().create_superuser(username, email, password, **extra_fields)


def _require_email(email: str | None) -> None:
    if not email:
        raise ValueError("The email address must be set.")


class User(AbstractUser):
    """A person who owns tasks.

    Usernames and email addresses are unique regardless of case, enforced by
    the database, so that "Alice" and "alice" cannot be two accounts.
    """

    email = models.EmailField(_("email address"))

    objects = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="accounts_user_username_ci_uniq",
                violation_error_message=_("A user with that username already exists."),
            ),
            models.UniqueConstraint(
                Lower("email"),
                name="accounts_user_email_ci_uniq",
                violation_error_message=_(
                    "A user with that email address already exists."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.username

    def save(self, *args, **kwargs) -> None:
        self.email = self.__class__.objects.normalize_email(self.email.strip())
        super().save(*args, **kwargs)
