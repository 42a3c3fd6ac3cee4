"""Django's PostgreSQL backend, with every statement carrying its scope.

``ENGINE = "ownership.backends.postgresql"`` (settings.py sets it for every
PostgreSQL database). Database connections are thread-local: under ASGI the
queries of an ``async def`` view run in another thread than the one that
opened the scope, on a connection object of that thread. So the execute
wrapper that sends each statement's scope (ownership/scope.py) is installed
on every connection object when it is made, beneath any wrapper installed
later, and stays there: a statement with no per-statement scope in force
passes it untouched.

``settings.DATABASE_EXECUTE_WRAPPERS`` names the project's wrappers in
order, outermost first (the slow-query log before the scope, so that it
logs the statement as the code wrote it); the scope's is added innermost
when it is not named.
"""

from django.conf import settings
from django.db.backends.postgresql import base
from django.utils.module_loading import import_string

from ...scope import statement_scope


def _wrappers() -> list:
    named = [
        import_string(path)
        for path in getattr(settings, "DATABASE_EXECUTE_WRAPPERS", ())
    ]
    return named if statement_scope in named else [*named, statement_scope]


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Entered for the life of this object and never left: kept here so
        # that none is closed (and popped) before the object goes.
        self.scope_wrappers = [self.execute_wrapper(w) for w in _wrappers()]
        for wrapper in self.scope_wrappers:
            wrapper.__enter__()
