"""The center's Prometheus metrics, in a registry of its own (one per app).

Besides the center's own, /metrics shows what other processes leave: the health sample's
consumer lags and process restarts, and the counts the lanes, receivers and signature
checks add up in Redis (`vocabulary.progress`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.asyncio import Redis
from redis.exceptions import RedisError

from center.health import LEVELS, Sample
from center.views import PRIORITIES, AlertViews
from partners import outbox
from vocabulary import progress
from vocabulary.topics import ALERTS, ZONE_EVENTS


class Shared(Collector):
    """The series whose values are read at each scrape, from Redis and the latest health sample."""

    def __init__(self) -> None:
        self.sample: Sample | None = None
        self.events: dict[bytes, bytes] = {}
        self.replies: dict[bytes, bytes] = {}
        self.oldest: dict[int, float | None] = {}
        self.partner_counts: dict[str, int] = {}
        self.partner_reports: dict[str, outbox.Report] = {}

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily("centinela_consumer_lag", "Messages behind the end of the topic, per consumer group",
                                labels=["group", "topic"])
        restarts = CounterMetricFamily("centinela_process_restarts", "Restarts of a supervised process after it died",
                                       labels=["process"])
        health = GaugeMetricFamily("centinela_health", "Each /healthz component: 0 ok, 1 degraded, 2 down",
                                   labels=["component"])
        if self.sample is not None:
            for (group, topic), behind in sorted(self.sample.lag.items()):
                lag.add_metric([group, topic], behind)
            for name, count in sorted(self.sample.restarts.items()):
                restarts.add_metric([name], count)
            for name, component in sorted(self.sample.components.items()):
                health.add_metric([name], LEVELS.index(component.level))
        oldest = GaugeMetricFamily("centinela_oldest_open_alert_seconds",
                                   "Age of the oldest alert not yet resolved, per priority (0: none open)",
                                   labels=["priority"])
        now = time.time()
        for priority in PRIORITIES:
            opened = self.oldest.get(priority)
            oldest.add_metric([str(priority)], 0.0 if opened is None else max(0.0, now - opened))
        events = CounterMetricFamily("centinela_events", "Device and camera messages by input topic and outcome "
                                     "(admitted, duplicate, or the rejection reason)", labels=["topic", "outcome"])
        for field, value in sorted(self.events.items()):
            topic, outcome = progress.counter_labels(field)
            events.add_metric([topic, outcome], int(value))
        replies = CounterMetricFamily("centinela_receiver_replies", "Receivers' answers to devices (ACK, NAK, DUH)",
                                      labels=["receiver", "reply"])
        for field, value in sorted(self.replies.items()):
            receiver, reply = progress.counter_labels(field)
            replies.add_metric([receiver, reply], int(value))
        yield from (lag, oldest, events, replies, restarts, health, *self._partners(now))

    def _partners(self, now: float) -> Iterator[Metric]:
        """What `centinela partners` counts and reports in Redis (contract section 16)."""
        messages = CounterMetricFamily("centinela_partner_messages", "CAP messages per partner agency by outcome: "
                                       "delivered, retried (an attempt failed), dropped (queue full, or 24 h undelivered)",
                                       labels=["partner", "outcome"])
        for name, value in sorted(self.partner_counts.items()):
            if name != outbox.FORGED:
                partner, outcome = progress.counter_labels(name)
                messages.add_metric([partner, outcome], value)
        forged = CounterMetricFamily("centinela_partners_forged_messages",
                                     "Messages on alerts the partners process ignored: not authenticated, or not an Alert")
        forged.add_metric([], self.partner_counts.get(outbox.FORGED, 0))
        undelivered = GaugeMetricFamily("centinela_partner_oldest_undelivered_seconds",
                                        "Age of the oldest CAP message not yet delivered, per partner (0: none waiting)",
                                        labels=["partner"])
        for partner, report in sorted(self.partner_reports.items()):
            oldest = report.oldest_queued_at
            undelivered.add_metric([partner], 0.0 if oldest is None else max(0.0, now - oldest))
        yield from (messages, forged, undelivered)

    async def refresh(self, redis: Redis, views: AlertViews, sample: Sample) -> None:
        self.sample = sample
        self.oldest = await views.oldest_open()
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(progress.EVENTS)
            pipe.hgetall(progress.RECEIVER_REPLIES)
            self.events, self.replies = await pipe.execute()
        self.partner_counts = await outbox.counts(redis)
        self.partner_reports = await outbox.reports(redis)


class ForgedMessages:
    """centinela_forged_messages_total{topic}: counted in Redis by every reader of an internal topic."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "centinela_forged_messages",
            "Messages on internal topics ignored: not authenticated with the internal key, or undecodable",
            labels=["topic"],
        )
        for topic in (ALERTS, ZONE_EVENTS):
            family.add_metric([topic], self.counts.get(topic, 0))
        yield family


class CenterMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.alerts_received = Counter(
            "centinela_center_alerts_received", "Alert snapshots consumed from the alerts topic", registry=r
        )
        self.alerts_superseded = Counter(
            "centinela_center_alerts_superseded",
            "Snapshots ignored because a newer version was already stored (replays, reordering)",
            registry=r,
        )
        self.alerts_invalid = Counter(
            "centinela_center_alerts_invalid", "Messages on the alerts topic skipped: not authenticated with the internal key, or not an Alert", registry=r
        )
        self.open_alerts = Gauge(
            "centinela_center_open_alerts", "Alerts not yet resolved, by priority", ["priority"], registry=r
        )
        self.sse_clients = Gauge("centinela_center_sse_clients", "Connected live streams", registry=r)
        self.sse_dropped = Counter(
            "centinela_center_sse_dropped", "Live streams closed because the client fell behind", registry=r
        )
        self.action_seconds = Histogram(
            "centinela_center_action_seconds",
            "From an operator's action to its alert snapshot stored by the center",
            ["action"],
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0),
            registry=r,
        )
        self.actions_pending = Counter(
            "centinela_center_actions_pending",
            "Actions answered 202 because their snapshot did not arrive in time",
            ["action"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "centinela_center_webhook_deliveries",
            "Webhook POSTs by outcome (delivered, failed after retries); by token role, never a name",
            ["role", "outcome"],
            registry=r,
        )
        self.webhook_dropped = Counter(
            "centinela_center_webhook_dropped",
            "Alerts dropped from a full webhook queue (least urgent first), by token role",
            ["role"],
            registry=r,
        )
        self.forged = ForgedMessages()
        r.register(self.forged)
        self.shared = Shared()
        r.register(self.shared)

    async def render(self, views: AlertViews, sample: Sample) -> bytes:
        """Redis unreachable: the series read from it keep their last values; the health series say why."""
        try:
            self.forged.counts = await views.forged()
            for priority, count in (await views.open_by_priority()).items():
                self.open_alerts.labels(priority=str(priority)).set(count)
            await self.shared.refresh(views.redis, views, sample)
        except (RedisError, OSError):  # a scrape must answer while Redis is away
            self.shared.sample = sample
        return generate_latest(self.registry)
