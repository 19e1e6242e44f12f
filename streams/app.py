"""The Faust applications: a worker's three lanes, their settings, and what runs on each.

A lane is its own consumer group in its own process. The urgent lane admits beeps and
alarm signals; the motion lane admits camera motion (and is started at the lowest CPU
priority, like the cameras); the evaluate lane applies zone.events to every zone it owns,
keeping the zones' states in Redis (`streams.zone_records`).
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
from streams.admit import AdmissionSettings
from streams.faust_adapter import FaustLane, install_admission, install_evaluation
from streams.fetching import FETCH_MAX_WAIT_MS, MOTION_FETCH_MAX_WAIT_MS, use_prompt_fetches
from streams.lanes import Lane
from streams.producing import use_idempotent_producers
from vocabulary import internal, topics
from vocabulary.kafka_security import KafkaSecurity


def create_app(city: City, rules: Rules, admission_settings: AdmissionSettings, kafka: str, redis_url: str,
               web_port: int, partitions: int, lane: Lane, datadir: Path) -> faust.App:
    use_idempotent_producers()
    use_prompt_fetches(MOTION_FETCH_MAX_WAIT_MS if lane == "motion" else FETCH_MAX_WAIT_MS)
    secret = internal.key_from_environment()
    app = faust.App(
        topics.named(f"centinela-{lane}"),  # two systems on one broker keep their groups apart
        broker=f"kafka://{kafka}",
        autodiscover=False,
        datadir=datadir,
        # A lane that dies is noticed, and its partitions handed on, within seconds.
        broker_session_timeout=6,
        broker_rebalance_timeout=6,
        broker_heartbeat_interval=1,
        broker_commit_interval=1.0,
        consumer_auto_offset_reset="earliest",
        # Oversized inputs must reach events.rejected whole, not crash the producer.
        producer_max_request_size=32 * 1024 * 1024,
        producer_linger_ms=2,  # a few sends per request instead of one: fewer syscalls, less broker work
        producer_acks=-1,  # acks=all, and idempotent: streams/producing.py
        consumer_max_fetch_size=32 * 1024 * 1024,
        # A Faust worker binds its web port even when disabled: keep it private and unique.
        web_host="127.0.0.1",
        web_port=web_port,
        web_enabled=False,
        topic_allow_declare=True,
        topic_partitions=partitions,
        **KafkaSecurity.from_environment().faust(),
    )
    faust_lane = FaustLane(app, lane, redis_url, secret)
    if lane == "urgent":
        install_admission(faust_lane, city, rules, admission_settings, inputs=(topics.BEEPS, topics.ALARMS))
    elif lane == "motion":
        install_admission(faust_lane, city, rules, admission_settings, inputs=(topics.MOTION,))
    else:
        install_evaluation(faust_lane, city, rules, partitions)
    return app
