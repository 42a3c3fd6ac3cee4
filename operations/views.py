import logging
import threading
import time

from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from operations import health
from operations.health.metrics import CONTENT_TYPE as OPENMETRICS
from operations.health.metrics import openmetrics

logger = logging.getLogger(__name__)

# A probe has its own timeout, typically a second or a few; answering 503
# a little after it is still more useful than hanging for long.
HEALTHZ_TIMEOUT = 3.0
# One check at a time per process, its answer shared for a second: a burst
# of probes (or of anonymous requests) costs one database connection, not
# one each, and threads of abandoned checks cannot pile up.
REUSE_SECONDS = 1.0
_lock = threading.Lock()
_last: tuple[float, health.Report] | None = None


def current_report() -> health.Report:
    global _last
    with _lock:
        if _last is None or time.monotonic() - _last[0] > REUSE_SECONDS:
            _last = (time.monotonic(), health.run_checks(timeout=HEALTHZ_TIMEOUT))
        return _last[1]


@never_cache
@require_safe
def healthz(request):
    """Answer a readiness probe: 200 when the database is healthy, else 503.

    The same checks as ``manage.py healthcheck``, reported without their
    details (host, database, role and migration names are nobody's business
    who can reach the URL); the reason of a failure goes to the log.

    ``?format=openmetrics`` answers the same checks as OpenMetrics for a
    Prometheus scrape, always with 200: a scrape that fails discards its
    metrics, and ``todoproject_health_healthy 0`` is what an alert needs.
    """
    wanted = request.GET.get("format", "json")
    if wanted not in ("json", "openmetrics"):
        return HttpResponseBadRequest(
            f"unknown format {wanted!r}; use format=json or format=openmetrics\n",
            content_type="text/plain; charset=utf-8",
        )
    report = current_report()
    if not report.healthy:
        logger.warning("/healthz: unhealthy: %s", report.reason)
    if wanted == "openmetrics":
        return HttpResponse(
            openmetrics(report, connections[DEFAULT_DB_ALIAS]),
            content_type=OPENMETRICS,
        )
    return JsonResponse(
        report.as_dict(details=False), status=200 if report.healthy else 503
    )


@never_cache
@require_safe
def livez(request):
    """Answer a liveness probe: 200 while this process can serve HTTP.

    It touches no database, on purpose: an orchestrator restarts a process
    whose liveness probe fails, and restarting every web process because the
    database is down (which ``/healthz``, the readiness probe, reports)
    would only add a thundering herd of reconnects to the outage.
    """
    return HttpResponse("ok\n", content_type="text/plain; charset=utf-8")
