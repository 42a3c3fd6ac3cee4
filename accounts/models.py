from __future__ import annotations

from django.contrib.auth.hashers import acheck_password as acheck_hash
from django.contrib.auth.hashers import check_password as check_hash
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.contrib.sessions.base_session import AbstractBaseSession, BaseSessionManager
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from ownership.scope import ScopeConflict, acting_as

from .sessions import SessionKeyDigestField


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

    # A correct password in an old hash format (a Django upgrade raises the
    # hashers' work factor) is hashed again and saved at once, as Django
    # does, while the request is still anonymous. The database lets a user's
    # row change in that user's scope only (ownership/guards.py), so the
    # check runs in it: no statement, no cost, unless the hash is saved.
    # Inside another user's request (a login to a second account) the old
    # hash is only checked, and upgraded at a later login.
    def check_password(self, raw_password) -> bool:
        if self.pk is None:
            return super().check_password(raw_password)
        try:
            with acting_as(self, using=self._state.db, atomic=False):
                return super().check_password(raw_password)
        except ScopeConflict:
            return check_hash(raw_password, self.password)

    async def acheck_password(self, raw_password) -> bool:
        if self.pk is None:
            return await super().acheck_password(raw_password)
        try:
            async with acting_as(self, using=self._state.db):
                return await super().acheck_password(raw_password)
        except ScopeConflict:
            return await acheck_hash(raw_password, self.password)

    def save(self, *args, **kwargs) -> None:
        self.email = self.__class__.objects.normalize_email(self.email.strip())
        super().save(*args, **kwargs)


class SessionManager(BaseSessionManager):
    """Django's session manager; ``save()`` signs the data for its key."""

    def save(self, session_key, session_dict, expire_date):
        store = self.model.get_session_store_class()(session_key)
        # By name: the key is not this model's first field, as it is Django's.
        session = self.model(
            session_key=session_key,
            session_data=store.encode(session_dict),
            expire_date=expire_date,
        )
        if session_dict:
            session.save()
        else:
            session.delete()  # Clear sessions with no data, as Django does.
        return session


class Session(AbstractBaseSession):
    """A session, keyed by the SHA-256 digest of its key (accounts/sessions.py)."""

    session_key = SessionKeyDigestField(_("session key digest"), primary_key=True)

    objects = SessionManager()

    class Meta(AbstractBaseSession.Meta):
        db_table = "accounts_session"

    @classmethod
    def get_session_store_class(cls):
        from .sessions import SessionStore

        return SessionStore

    def get_decoded(self):
        # The data is signed for this row's digest (accounts/sessions.py).
        return self.get_session_store_class()(digest=self.session_key).decode(
            self.session_data
        )
