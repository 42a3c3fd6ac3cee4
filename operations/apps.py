from django.apps import AppConfig


class OperationsConfig(AppConfig):
    """Running the project: health checks, backups, system checks, query log."""

    name = "operations"
    verbose_name = "operations"

    def ready(self) -> None:
        from django.apps import apps
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate

        from ownership import health
        from replicas.health import ReplayCheck

        from . import checks  # noqa: F401 - registers the system checks
        from .db import use_fast_timestamptz_loader
        from .health import checks as health_checks
        from .integrity import put_back_after_migrate
        from .slow_queries import install_slow_query_log

        health.register(health_checks.RoundTripCheck)
        health.register(health_checks.ServerCheck)
        health.register(health_checks.SslCheck)
        health.register(health_checks.MigrationsCheck)
        health.register(health_checks.DefinitionsCheck)
        # replicas is a package, not an installed app (no models, signals or
        # templates): the app that reports on replicas registers their check.
        health.register(ReplayCheck)

        connection_created.connect(install_slow_query_log)
        connection_created.connect(use_fast_timestamptz_loader)
        # tasks is the last app migrate signals (this app has no models,
        # so it gets no signal of its own): the runtime role's grants
        # (ownership's receiver) are made by then, and recorded with the rest.
        post_migrate.connect(
            put_back_after_migrate, sender=apps.get_app_config("tasks")
        )
