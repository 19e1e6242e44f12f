"""The center's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, Metric

from center.views import AlertViews
from vocabulary.topics import ALERTS, ZONE_EVENTS


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

    async def render(self, views: AlertViews) -> bytes:
        self.forged.counts = await views.forged()
        for priority, count in (await views.open_by_priority()).items():
            self.open_alerts.labels(priority=str(priority)).set(count)
        return generate_latest(self.registry)
