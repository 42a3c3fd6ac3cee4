"""The replicas' health check: reachable, replaying, how far behind.

``ReplayCheck`` runs on a connection of its own to each replica of
``settings.DATABASE_REPLICAS`` (never the one requests use), with the
primary's current WAL position for the lag in bytes. A replica that is not
a standby, or lags more than ``DATABASE_REPLICA_MAX_LAG`` seconds, fails;
for the service that is a warning, since reads fall back (``router``).
``operations`` registers it: this package is not an installed app.
"""

from __future__ import annotations

from django.conf import settings

from ownership.health import REPLICA, CheckContext, CheckResult, HealthCheck

from .router import lsn, read_replay

# A replica's failure is a warning for the service as a whole: reads fall
# back to the primary or another replica. So it costs no exit code.
_NO_EXIT_CODE = 0


def primary_position(cursor) -> int | None:
    """Return the current WAL position of the primary that `cursor` is on."""
    cursor.execute("SELECT pg_current_wal_lsn()::text")
    return lsn(cursor.fetchone()[0])


class ReplayCheck(HealthCheck):
    """Fail when a replica is not a standby or lags past the limit."""

    name = "replay"
    order = 10
    vendors = ("postgresql",)
    target = REPLICA

    def run(self, context: CheckContext) -> CheckResult:
        with context.connection.cursor() as cursor:
            replay = read_replay(cursor)
        if not replay.standby:
            return CheckResult.fail("not a standby", _NO_EXIT_CODE, replaying=False)
        lag_bytes = None
        if context.primary_position is not None and replay.replayed is not None:
            lag_bytes = max(0, context.primary_position - replay.replayed)
        facts = {
            "replaying": True,
            "lag_bytes": lag_bytes,
            "lag_seconds": replay.lag_seconds,
        }
        limit = settings.DATABASE_REPLICA_MAX_LAG
        if replay.lag_seconds > limit:
            return CheckResult.fail(
                f"{replay.lag_seconds:.0f} s behind (limit {limit} s)",
                _NO_EXIT_CODE,
                **facts,
            )
        return CheckResult.ok(f"replaying, {replay.lag_seconds:.1f} s behind", **facts)
