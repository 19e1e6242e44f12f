"""`centinela partners`: alerts from Kafka, as CAP 1.2, to each partner agency (contract section 16).

A reader (consumer group `centinela-partners`) takes every authentic snapshot on `alerts`, turns
it into each interested partner's next CAP message and queues it in Redis (partners.outbox); it
commits its Kafka offsets only once the batch is queued, so a crash reads the batch again and the
versions already queued are skipped. One sender per partner POSTs its queue in order, retrying
with a capped exponential backoff until the message has waited `cap.give_up_s` (24 h), then drops
it and counts it. A partner that is slow or down holds only its own queue: the reader never
waits for a POST, and every POST has a timeout.

A partner that got an alert gets every later change of it, even one its filters would not take
(a priority changed), so that it always learns how the alert ended.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from redis.asyncio import Redis

from alert_rules.city import City
from alert_rules.partners import CapSettings, Partner
from partners.cap import MEDIA_TYPE, build
from partners.outbox import Envelope, Outbox, Report
from vocabulary import internal, topics
from vocabulary.events import Alert
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.signing import delivery_headers

log = logging.getLogger("centinela.partners")
GROUP = "centinela-partners"
IDLE_LOOK_S = 1.0  # an empty queue is looked at again this often (or as soon as a message is queued here)
REPORT_S = 1.0
RETRY_S = 1.0


def stopping() -> bool:
    """This task was told to stop, even if a library turned the CancelledError into another error or ate it."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def group() -> str:
    return topics.named(GROUP)


def authentic(secret: bytes, message: Any) -> Alert | None:
    """The snapshot when Centinela wrote it for this partition (contract section 9); else None. A replayed
    version is harmless here: the partner's last message about the alert is as new or newer."""
    if internal.verify(secret, topics.ALERTS, message.key, message.value, message.headers, message.partition) is None:
        return None
    try:
        return Alert.model_validate_json(message.value)
    except Exception:  # whatever its bytes, a message is counted, never a stop
        return None


class Dispatcher:
    """Queues each interested partner's next CAP message about an alert."""

    def __init__(self, city: City, settings: CapSettings, outbox: Outbox,
                 wake: Callable[[str], None] = lambda _: None, clock: Callable[[], float] = time.time) -> None:
        self.city = city
        self.settings = settings
        self.outbox = outbox
        self._wake = wake
        self._clock = clock

    async def offer(self, alert: Alert) -> None:
        now = self._clock()
        if now - alert.updated_at.timestamp() >= self.settings.give_up_s:
            return  # older than a message may wait: a new group reading the topic's past sends none of it
        zone = self.city.zone_by_id.get(alert.zone_id)
        for partner in self.city.partners:
            previous = await self.outbox.last_sent(partner.id, alert.alert_id)
            if previous is None and not partner.takes(alert.category, alert.priority):
                continue
            message = build(alert, partner, self.settings, zone, previous)
            if message is None:
                continue
            if await self.outbox.put(partner.id, message, now):
                self._wake(partner.id)
            else:
                log.warning("the queue of partner %s is full (%d): dropped %s of alert %s", partner.id,
                            self.settings.queue_max, message.msg_type, alert.alert_id)


class Sender:
    """POSTs one partner's queue, oldest first; the head stays queued until it is delivered or dropped."""

    def __init__(self, partner: Partner, settings: CapSettings, outbox: Outbox, client: httpx.AsyncClient,
                 clock: Callable[[], float] = time.time) -> None:
        self.partner = partner
        self.settings = settings
        self.outbox = outbox
        self._client = client
        self._clock = clock
        self.wake = asyncio.Event()
        self.failing = ""  # why the last attempt failed; empty once one succeeds

    async def run(self) -> None:
        while True:
            try:
                await self._deliver_queue()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # Redis away: the queue is still there when it is back
                if stopping():
                    raise asyncio.CancelledError from error
                self.failing = f"its queue cannot be read ({type(error).__name__})"
                log.warning("partner %s: %s; retrying", self.partner.id, self.failing)
                await asyncio.sleep(RETRY_S)

    async def _deliver_queue(self) -> None:
        pid = self.partner.id
        delay = self.settings.retry_first_s
        while True:
            if stopping():
                raise asyncio.CancelledError
            self.wake.clear()
            head = await self.outbox.head(pid)
            if head is None:
                try:  # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that comes as it times out
                    async with asyncio.timeout(IDLE_LOOK_S):
                        await self.wake.wait()
                except TimeoutError:
                    pass
                continue
            waited = self._clock() - head.envelope.queued_at
            if waited >= self.settings.give_up_s:
                await self.outbox.done(pid, head, "dropped")
                log.warning("partner %s: gave up on %s of alert %s after %.0f s (%s)", pid, head.envelope.msg_type,
                            head.envelope.alert_id, waited, self.failing or "never tried")
                continue
            problem = await self._post(head.envelope)
            if problem is None:
                await self.outbox.done(pid, head, "delivered")
                self.failing, delay = "", self.settings.retry_first_s
                log.debug("partner %s: delivered %s", pid, head.envelope.identifier)
                continue
            await self.outbox.count(pid, "retried")
            self.failing = f"the last attempt failed ({problem}); retrying within {delay:.0f} s"
            log.info("partner %s: %s failed (%s); retrying in %.1f s", pid, head.envelope.identifier, problem, delay)
            await asyncio.sleep(min(delay, self.settings.give_up_s - waited))
            delay = min(delay * 2, self.settings.retry_max_s)

    async def _post(self, envelope: Envelope) -> str | None:
        """None once the partner answered 2xx; else what went wrong."""
        body = envelope.body
        # stamped at each attempt, as the webhooks are: a receiver may refuse old ones
        headers = {"Content-Type": MEDIA_TYPE, **delivery_headers(self.partner.key, str(int(self._clock())), body)}
        try:
            answer = await self._client.post(self.partner.url, content=body, headers=headers,
                                             timeout=self.settings.timeout_s)
        except httpx.HTTPError as error:
            if stopping():
                raise asyncio.CancelledError from error
            return type(error).__name__
        return None if answer.is_success else f"HTTP {answer.status_code}"

    async def report(self) -> Report:
        head = await self.outbox.head(self.partner.id)
        queued = await self.outbox.queued(self.partner.id)
        oldest = head.envelope.queued_at if head else None
        if self.failing:
            return Report(level="degraded", detail=f"{queued} queued; {self.failing}", queued=queued,
                          oldest_queued_at=oldest, seen=self._clock())
        return Report(level="ok", detail=f"delivering, {queued} queued", queued=queued, oldest_queued_at=oldest,
                      seen=self._clock())


class AlertReader:
    """The `alerts` topic into the dispatcher, offsets committed once a batch is queued."""

    def __init__(self, kafka: str, security: KafkaSecurity, secret: bytes, dispatcher: Dispatcher) -> None:
        self.kafka = kafka
        self.security = security
        self.secret = secret
        self.dispatcher = dispatcher
        self.consuming = asyncio.Event()

    async def run(self) -> None:
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # broker or Redis away: resume from the committed offsets
                if stopping():
                    raise asyncio.CancelledError from error
                self.consuming.clear()
                log.warning("alerts reader interrupted (%s); resuming from the committed offsets", type(error).__name__)
                await asyncio.sleep(RETRY_S)

    async def _consume(self) -> None:
        consumer = AIOKafkaConsumer(topics.named(topics.ALERTS), bootstrap_servers=self.kafka, group_id=group(),
                                    enable_auto_commit=False, auto_offset_reset="earliest", **self.security.client())
        await consumer.start()
        try:
            log.info("partners reading %s as group %s", topics.named(topics.ALERTS), group())
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                if not consumer.assignment():
                    continue
                self.consuming.set()
                if batches:
                    await self._queue(batches.items())
                    await consumer.commit({tp: messages[-1].offset + 1 for tp, messages in batches.items()})
        finally:
            self.consuming.clear()
            await consumer.stop()

    async def _queue(self, batches: Iterable[tuple[TopicPartition, list[Any]]]) -> None:
        forged = 0
        for tp, messages in batches:
            for message in messages:
                alert = authentic(self.secret, message)
                if alert is None:
                    forged += 1
                    log.warning("ignoring a message that is not an authentic Alert at %s[%d]@%d",
                                tp.topic, tp.partition, message.offset)
                else:
                    await self.dispatcher.offer(alert)
        if forged:
            await self.dispatcher.outbox.count_forged(forged)


async def report_forever(senders: list[Sender], outbox: Outbox) -> None:
    """Each partner's health and oldest undelivered message, where the center reads them."""
    while True:
        for sender in senders:
            try:
                await outbox.report(sender.partner.id, await sender.report())
            except Exception as error:  # Redis away: the center's reports go stale and say so
                log.debug("could not report partner %s (%s)", sender.partner.id, type(error).__name__)
        await asyncio.sleep(REPORT_S)


async def serve(city: City, settings: CapSettings, kafka: str, redis_url: str, secret: bytes,
                security: KafkaSecurity, namespace: str | None = None) -> None:
    """Run until cancelled."""
    if not city.partners:
        log.info("no partners configured: nothing to deliver")
        await asyncio.Event().wait()
    redis = Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=10)
    outbox = Outbox(redis, settings) if namespace is None else Outbox(redis, settings, namespace)
    try:
        async with httpx.AsyncClient(follow_redirects=False) as client:
            senders = {p.id: Sender(p, settings, outbox, client) for p in city.partners}
            dispatcher = Dispatcher(city, settings, outbox, wake=lambda pid: senders[pid].wake.set())
            reader = AlertReader(kafka, security, secret, dispatcher)
            log.info("delivering CAP 1.2 to %d partners: %s", len(senders), ", ".join(senders))
            await asyncio.gather(reader.run(), report_forever(list(senders.values()), outbox),
                                 *(sender.run() for sender in senders.values()))
    finally:
        await redis.aclose()
