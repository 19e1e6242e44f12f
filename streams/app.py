"""The Faust applications: a worker's three lanes, their settings, and the agents on each.

A lane is its own consumer group in its own process. The urgent lane admits beeps and
alarm signals; the motion lane admits camera motion (and is started at the lowest CPU
priority, like the cameras); the evaluate lane applies zone.events to every zone it owns
and keeps the zones' states in a Faust table.
A flood of motion therefore queues only behind itself: it never sits in front of a panic
in a fetch, a buffer or an event loop, and reaches evaluation as one message per zone
per batch. Evaluation has a loop of its own so that applying a burst, or saving states,
never delays the admission of the next panic (measured: admission alone took a beep to
zone.events in 22 ms at 500 events/s, 53 to 100 ms when it shared its loop).
"""

from __future__ import annotations

from pathlib import Path

import faust

from alert_rules.city import City
from alert_rules.rules import Rules
from streams import admission, codec, evaluate
from streams.admit import AdmissionSettings
from streams.fetching import use_prompt_fetches
from streams.lanes import Lane
from streams.zone_state import table_store
from vocabulary import internal, topics
from vocabulary.kafka_security import KafkaSecurity


def create_app(city: City, rules: Rules, admission_settings: AdmissionSettings, kafka: str, redis_url: str, web_port: int, partitions: int, lane: Lane,
               tables: Path | None = None) -> faust.App:
    """`tables`: a directory for the zone table's RocksDB files, shared by the workers of one machine."""
    use_prompt_fetches()
    secret = internal.key_from_environment()
    app = faust.App(
        topics.named(f"centinela-{lane}"),  # two systems on one broker keep their groups and tables apart
        broker=f"kafka://{kafka}",
        store=table_store(tables),
        **({} if tables is None else {
            "datadir": tables,
            # Each partition's database is opened by its owner alone; on one machine a standby is no use.
            "table_standby_replicas": 0,
            # The embedded broker forgets its topics at every restart: the local tables, which
            # are never older than the changelog they wrote, are then all that is left.
            "recovery_consistency_check": False,
        }),
        autodiscover=False,
        # Fast group joins on Tansu (measured: ~3 s instead of ~30 s with the defaults).
        broker_session_timeout=6,
        broker_rebalance_timeout=6,
        broker_heartbeat_interval=1,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # Oversized inputs must reach events.rejected whole, not crash the producer.
        producer_max_request_size=32 * 1024 * 1024,
        producer_linger_ms=2,  # a few sends per request instead of one: fewer syscalls, less broker work
        consumer_max_fetch_size=32 * 1024 * 1024,
        # A Faust worker binds its web port even when disabled: keep it private and unique.
        web_host="127.0.0.1",
        web_port=web_port,
        web_enabled=False,
        topic_allow_declare=True,
        topic_partitions=partitions,
        **KafkaSecurity.from_environment().faust(),
    )
    codec.register()
    if lane == "urgent":
        admission.install(app, city, admission_settings, redis_url, inputs=(topics.BEEPS, topics.ALARMS), secret=secret)
    elif lane == "motion":
        admission.install(app, city, admission_settings, redis_url, inputs=(topics.MOTION,), secret=secret)
    else:
        evaluate.install(app, city, rules, redis_url, partitions, secret)
    return app
