"""Model instances under row-level security that never fail silently.

Without help, an instance loaded in one scope and saved in none is an
UPDATE that matches no row, which Django follows with an INSERT that the
policies refuse ("new row violates row-level security policy"), and a
delete in none deletes nothing and reports no error. ``ScopedModel``
instead:

- remembers the scope a block of code had set when the instance was
  loaded or saved (a service, a bound queryset, ``acting_as``), and writes,
  reloads and deletes in it when no scope is in force then;
- updates an instance that came from the database with an UPDATE only, and
  raises ``NotVisible`` (a ``DoesNotExist`` of the model) naming the row and
  the scope in force when it matches no row, as ``delete()`` and
  ``refresh_from_db()`` do;
- refuses, before any SQL, a write with no scope in force, and a new row
  owned by another user than the one acted for (``ScopeConflict``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, router

from .scope import (
    NOBODY,
    NotVisible,
    Scope,
    ScopeConflict,
    UnscopedQuery,
    current_scope,
    in_scope,
    scope_to_remember,
)

__all__ = ["ScopedModel", "remember_scope"]

_errors: dict[type, type] = {}


def remember_scope(instance, scope: Scope | None) -> None:
    """Let `instance` write, reload and delete later in `scope`."""
    if scope is not None and scope != NOBODY:
        instance._ownership_scope = scope


def _not_visible(instance, scope: Scope) -> NotVisible:
    model = type(instance)
    if model not in _errors:
        _errors[model] = type(
            "NotVisible", (NotVisible, model.DoesNotExist), {"__module__": __name__}
        )
    name = model._meta.verbose_name
    return _errors[model](
        f"{name} {instance.pk} is not visible in the current scope: {scope}"
    )


class ScopedModel:
    """Mixin for a model whose rows row-level security shows per owner.

    ``owner_field`` names the foreign key to the user who owns a row.
    """

    owner_field = "owner"

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # Once per row fetched: the scope is looked up in one pass.
        scope = scope_to_remember(db)
        if scope is not None:
            instance._ownership_scope = scope
        return instance

    @contextmanager
    def _ownership_in_scope(self, using: str) -> Iterator[Scope]:
        scope = current_scope(using)
        remembered = getattr(self, "_ownership_scope", None)
        if scope == NOBODY and remembered is not None:
            with in_scope(remembered, using=using, atomic=False):
                yield remembered
            return
        if (
            scope == NOBODY
            and connections[using].vendor == "postgresql"
            # A process that runs with no scope on purpose (a role that
            # bypasses row-level security: the benchmark's plain Django).
            and getattr(settings, "UNSCOPED_QUERIES", "warn") != "ignore"
        ):
            if self._state.adding:
                raise UnscopedQuery(
                    f"cannot create a {self._meta.verbose_name} with no scope in "
                    "force: use a service or acting_as(user)"
                )
            raise _not_visible(self, scope)
        yield scope

    def _ownership_check_owner(self, scope: Scope) -> None:
        if scope.user_id is None or scope.staff:
            return
        field = self._meta.get_field(self.owner_field)
        owner_id = getattr(self, field.attname)
        if owner_id is not None and owner_id != scope.user_id:
            raise ScopeConflict(
                f"cannot write a {self._meta.verbose_name} of user {owner_id} in "
                f"the scope of {scope}"
            )

    def save(self, *args, **kwargs):
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with self._ownership_in_scope(using) as scope:
            self._ownership_check_owner(scope)
            if not (
                self._state.adding
                or kwargs.get("force_insert")
                or kwargs.get("update_fields") is not None
            ):
                # Loaded from the database: an UPDATE that matches no row is
                # an error here, never a fallback INSERT.
                kwargs["force_update"] = True
            try:
                super().save(*args, **kwargs)
            except DatabaseError as exc:
                # Django's own "did not affect any rows" errors are exactly
                # DatabaseError; the server's are its subclasses.
                if type(exc) is not DatabaseError:
                    raise
                raise _not_visible(self, scope) from None
            if scope.user_id is not None and not scope.staff:
                remember_scope(self, scope)

    save.alters_data = True

    def delete(self, using=None, keep_parents=False):
        using = using or router.db_for_write(type(self), instance=self)
        with self._ownership_in_scope(using) as scope:
            deleted, per_model = super().delete(using=using, keep_parents=keep_parents)
        if not deleted:
            raise _not_visible(self, scope)
        return deleted, per_model

    delete.alters_data = True

    def refresh_from_db(self, using=None, fields=None, from_queryset=None):
        alias = using or self._state.db or DEFAULT_DB_ALIAS
        with self._ownership_in_scope(alias) as scope:
            try:
                super().refresh_from_db(
                    using=using, fields=fields, from_queryset=from_queryset
                )
            except self.DoesNotExist:
                raise _not_visible(self, scope) from None
