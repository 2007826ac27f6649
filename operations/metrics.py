"""Prometheus metrics, read from the database at each scrape with aggregate queries: a fixed
number of queries whatever the number of roles, and no state kept in web processes (every
process answers the same)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min, Q, Sum
from django.db.models.fields.json import KT
from django.utils import timezone
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from onboarding.models import PipelineRunner, Run, RunAttempt, RunStatus, RunStep

from .models import Action, DeliveryAttempt, Event, SlaRecord

STEP_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800]
PUSH_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200]
WAIT_BUCKETS = [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 1800, 3600]


def histogram_aggregates(field: str, buckets: Sequence[float], scale: float = 1.0) -> dict:
    """Cumulative bucket counts, count and sum of `field` (in seconds * scale) as aggregates."""
    values = {f"le_{i}": Count("pk", filter=Q(**{f"{field}__lte": b * scale})) for i, b in enumerate(buckets)}
    return {**values, "n": Count(field), "total": Sum(field)}


def _histogram(name: str, doc: str, buckets: Sequence[float], labels: list[str]) -> tuple:
    family = HistogramMetricFamily(name, doc, labels=labels)

    def add(label_values: list[str], row: dict, scale: float = 1.0) -> None:
        points = [(_le(b), row[f"le_{i}"]) for i, b in enumerate(buckets)] + [("+Inf", row["n"])]
        family.add_metric(label_values, points, sum_value=(row["total"] or 0) / scale)

    return family, add


def _le(bound: float) -> str:
    return f"{float(bound):g}" if bound < 1 or bound != int(bound) else f"{float(bound):.1f}"


class PipelineCollector(Collector):
    def collect(self):
        yield from self._queue()
        yield self._runs_finished()
        yield self._step_attempts()
        yield self._step_durations()
        yield from self._sla_histograms()
        yield from self._events()
        yield self._webhooks()
        yield from self._workers()

    def _queue(self):
        depth = GaugeMetricFamily(
            "etter_queue_depth", "Runs waiting in QUEUED, by company", labels=["company"]
        )
        flight = GaugeMetricFamily(
            "etter_runs_in_flight", "Runs being processed, by company", labels=["company"]
        )
        rows = (
            Run.objects.in_flight()
            .values("role__company__name")
            .annotate(
                queued=Count("pk", filter=Q(status=RunStatus.QUEUED)),
                processing=Count("pk", filter=Q(status=RunStatus.PROCESSING)),
            )
        )
        for row in rows:
            depth.add_metric([row["role__company__name"]], row["queued"])
            flight.add_metric([row["role__company__name"]], row["processing"])
        yield depth
        yield flight

    def _runs_finished(self):
        family = CounterMetricFamily("etter_runs_finished", "Runs that ended, by status", labels=["status"])
        counts = dict(
            Run.objects.filter(finished_at__isnull=False).values_list("status").annotate(n=Count("pk"))
        )
        for status in (RunStatus.READY, RunStatus.DEGRADED, RunStatus.FAILED):
            family.add_metric([status.lower()], counts.get(status, 0))
        return family

    def _step_attempts(self):
        family = CounterMetricFamily(
            "etter_step_attempts",
            "draup-world call attempts, by step and error code",
            labels=["step", "error"],
        )
        rows = RunAttempt.objects.values("step", code=KT("error__error")).annotate(n=Count("pk"))
        for row in rows:
            family.add_metric([row["step"], row["code"] or "none"], row["n"])
        return family

    def _step_durations(self):
        family, add = _histogram(
            "etter_step_duration_seconds", "Completed step durations", STEP_BUCKETS, ["step"]
        )
        aggregates = histogram_aggregates("duration_ms", STEP_BUCKETS, scale=1000)
        for row in RunStep.objects.filter(status="completed").values("name").annotate(**aggregates):
            add([row["name"]], row, scale=1000)
        return family

    def _sla_histograms(self):
        push, add_push = _histogram(
            "etter_push_to_ready_seconds", "Time from push to READY", PUSH_BUCKETS, []
        )
        wait, add_wait = _histogram(
            "etter_queue_wait_seconds", "Time from push to a worker starting", WAIT_BUCKETS, []
        )
        add_push(
            [],
            SlaRecord.objects.filter(outcome="READY").aggregate(
                **histogram_aggregates("actual_seconds", PUSH_BUCKETS)
            ),
        )
        add_wait([], SlaRecord.objects.aggregate(**histogram_aggregates("queue_wait_seconds", WAIT_BUCKETS)))
        breaches = SlaRecord.objects.aggregate(
            total=Count("pk", filter=Q(breached=True)),
            open=Count(
                "pk", filter=Q(breached=True, run__status__in=[RunStatus.QUEUED, RunStatus.PROCESSING])
            ),
        )
        yield push
        yield wait
        yield CounterMetricFamily(
            "etter_sla_breaches", "Runs that missed their SLA target", value=breaches["total"]
        )
        yield GaugeMetricFamily(
            "etter_sla_breached_in_flight",
            "Runs past their SLA target and still in flight",
            value=breaches["open"],
        )

    def _events(self):
        agg = Event.objects.filter(processed_at__isnull=True).aggregate(
            n=Count("pk"), oldest=Min("created_at")
        )
        lag = (timezone.now() - agg["oldest"]).total_seconds() if agg["oldest"] else 0.0
        yield GaugeMetricFamily("etter_events_unprocessed", "Events not yet handled", value=agg["n"])
        yield GaugeMetricFamily(
            "etter_event_lag_seconds", "Age of the oldest event not yet handled (0: none waiting)", value=lag
        )

    def _webhooks(self):
        family = CounterMetricFamily(
            "etter_webhook_deliveries", "Webhook call attempts, by outcome", labels=["outcome"]
        )
        counts = dict(
            DeliveryAttempt.objects.filter(delivery__channel=Action.WEBHOOK)
            .values_list("outcome")
            .annotate(n=Count("pk"))
        )
        for outcome in DeliveryAttempt.Outcome.values:
            family.add_metric([outcome], counts.get(outcome, 0))
        return family

    def _workers(self):
        now = timezone.now()
        alive_after = now - timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
        beat = GaugeMetricFamily(
            "etter_worker_heartbeat_age_seconds",
            "Seconds since each pipeline runner's last heartbeat",
            labels=["runner", "host"],
        )
        alive = 0
        for name, host, at in PipelineRunner.objects.values_list("name", "host", "heartbeat_at"):
            beat.add_metric([name, host], (now - at).total_seconds())
            alive += at >= alive_after
        yield beat
        yield GaugeMetricFamily(
            "etter_workers_alive", "Pipeline runners with a recent heartbeat", value=alive
        )
