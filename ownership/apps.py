from django.apps import AppConfig
from django.db.models.signals import post_migrate


class OwnershipConfig(AppConfig):
    """Who the database acts for: scopes, their middleware, roles, policies."""

    name = "ownership"
    verbose_name = "ownership"

    def ready(self) -> None:
        from . import health
        from .posture import RoleConfigCheck, ScopeProofCheck, SqliteIsolationCheck
        from .proofs import install_after_migrate
        from .roles import grant_after_migrate

        post_migrate.connect(grant_after_migrate, sender=self)
        post_migrate.connect(install_after_migrate, sender=self)
        health.register(RoleConfigCheck)
        health.register(ScopeProofCheck)
        health.register(SqliteIsolationCheck)
