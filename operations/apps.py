from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running the project: health checks, backups, system checks, query log."""

    name = "operations"
    verbose_name = "operations"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from . import checks  # noqa: F401 - registers the system checks
        from .db import use_fast_timestamptz_loader
        from .slow_queries import install_slow_query_log

        connection_created.connect(install_slow_query_log)
        connection_created.connect(use_fast_timestamptz_loader)
