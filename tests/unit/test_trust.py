"""Contract section 9, the pure parts: internal MACs, the internal key, Kafka security settings,
redaction of credentials, private files."""

from __future__ import annotations

import os
import ssl
import stat
import sys
from pathlib import Path

import pytest

from deploy.stack import DATA_MARK, make_private, private_log, secret_file
from deploy.supervisor import Child
from detectors.sources import FrameSource, SourceError
from vocabulary import internal
from vocabulary.errors import ConfigError
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.redaction import redacted

KEY = bytes(range(32))


def test_a_mac_binds_topic_partition_key_value_and_stamp_and_nothing_else_verifies() -> None:
    headers = internal.headers(KEY, "alerts", 2, b"zone-a", b'{"version": 1}')
    stamp = internal.verify(KEY, "alerts", b"zone-a", b'{"version": 1}', headers, 2)
    assert stamp is not None and stamp.partition == 2 and stamp.sequence >= 1
    assert internal.verify(KEY, "alerts", b"zone-a", b'{"version": 1}', dict(headers), 2)  # Faust may give a mapping
    assert not internal.verify(KEY, "alerts", b"zone-a", b'{"version": 1}', headers, 3), "a copy in another partition"
    for topic, key, value in (("zone.events", b"zone-a", b'{"version": 1}'), ("alerts", b"zone-b", b'{"version": 1}'),
                              ("alerts", b"zone-a", b'{"version": 2}'), ("alerts", None, b'{"version": 1}'),
                              ("alertsz", b"one-a", b'{"version": 1}')):
        assert not internal.verify(KEY, topic, key, value, headers, 2), (topic, key, value)
    assert not internal.verify(bytes(32), "alerts", b"zone-a", b'{"version": 1}', headers, 2)
    mac, raw = headers
    moved = (internal.STAMP, raw[1].replace(b"2.", b"3.", 1))  # the stamp is signed: naming another partition fails
    for found in (None, [], [("other", mac[1]), raw], headers * 2, [(internal.HEADER, "text, not bytes"), raw],
                  [mac], [mac, moved], [mac, (internal.STAMP, b"\xff")]):
        assert not internal.verify(KEY, "alerts", b"zone-a", b'{"version": 1}', found), found  # type: ignore[arg-type]
    assert not internal.verify(KEY, "alerts", b"zone-a", None, headers)


def stamped(producer: str, sequence: int, at_ms: int) -> internal.Stamp:
    return internal.Stamp(0, producer, sequence, at_ms)


def test_a_partition_accepts_each_producers_message_once_however_late_the_replay() -> None:
    hour = internal.PRODUCER_MEMORY_MS
    fresh = internal.Freshness()
    assert [fresh.accept(stamped("a", n, 1_000 + n), 10**13) for n in (1, 2, 4, 3)] == [True] * 4, "reordered, once each"
    assert not any(fresh.accept(stamped("a", n, 1_000 + n), 10**13) for n in (1, 2, 3, 4)), "replays"
    assert fresh.accept(stamped("b", 1, 5_000), 10**13), "a restarted process is a new producer"
    assert all(fresh.accept(stamped("a", n, 1_000 + n), 10**13) for n in range(6, 8 + internal.REORDER))
    assert not fresh.accept(stamped("a", 5, 1_005), 10**13), "never seen, but further back than the window"
    later = 5_000 + hour + 1
    assert fresh.accept(stamped("c", 1, later), 10**13)
    assert set(fresh.heard) == {"c"}, "producers silent for longer than the memory are forgotten"
    again = internal.Freshness.decode(fresh.encode())  # as Redis keeps it beside the position
    assert again == fresh
    for producer, sequence, at_ms in (("a", 5, 1_005), ("a", 99, 1_099), ("b", 1, 5_000), ("b", 2, 5_000)):
        assert not again.accept(stamped(producer, sequence, at_ms), 10**13), "a forgotten producer's late messages"
    assert again.accept(stamped("d", 1, later - hour), 10**13), "a new producer's clock may lag by the memory"
    future = internal.Freshness()
    assert future.accept(stamped("e", 1, YEAR_3000_MS), 2_000_000)
    assert future.newest_ms == 2_000_000, "no producer's clock moves the window past the reader's"


YEAR_3000_MS = 32_503_680_000_000


def test_the_internal_key_comes_from_the_environment_or_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(internal.KEY_ENV, raising=False)
    monkeypatch.delenv(internal.KEY_FILE_ENV, raising=False)
    with pytest.raises(ConfigError, match="no internal key"):
        internal.key_from_environment()
    path = internal.ensure_key_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert internal.ensure_key_file(tmp_path) == path and len(bytes.fromhex(path.read_text())) == 32  # made once
    assert sorted(p.name for p in tmp_path.iterdir()) == [internal.KEY_FILE], "no temporary file left behind"
    monkeypatch.setenv(internal.KEY_FILE_ENV, str(path))
    assert internal.key_from_environment() == bytes.fromhex(path.read_text())
    monkeypatch.setenv(internal.KEY_ENV, "ab" * 16)
    assert internal.key_from_environment() == bytes.fromhex("ab" * 16)
    for bad in ("not hex", "abcd"):
        monkeypatch.setenv(internal.KEY_ENV, bad)
        with pytest.raises(ConfigError, match=internal.KEY_ENV):
            internal.key_from_environment()


def test_kafka_security_settings_become_each_clients_arguments(tmp_path: Path) -> None:
    assert KafkaSecurity.from_environment({}).client() == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity.from_environment({}).faust() == {}
    scram = KafkaSecurity.from_environment({
        "CENTINELA_KAFKA_SECURITY": "sasl_plaintext", "CENTINELA_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "CENTINELA_KAFKA_USERNAME": "center", "CENTINELA_KAFKA_PASSWORD": "s3cret"})
    assert scram.client() == {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                              "sasl_plain_username": "center", "sasl_plain_password": "s3cret"}
    credentials = scram.faust()["broker_credentials"]
    assert (credentials.protocol.value, credentials.mechanism.value, credentials.username) == (
        "SASL_PLAINTEXT", "SCRAM-SHA-512", "center")
    assert "s3cret" not in repr(scram) and "s3cret" not in repr(credentials)
    ca = Path(ssl.get_default_verify_paths().cafile or "/etc/ssl/certs/ca-certificates.crt")
    tls = KafkaSecurity.from_environment({
        "CENTINELA_KAFKA_SECURITY": "SASL_SSL", "CENTINELA_KAFKA_SASL_MECHANISM": "PLAIN",
        "CENTINELA_KAFKA_USERNAME": "u", "CENTINELA_KAFKA_PASSWORD": "p", "CENTINELA_KAFKA_CA": str(ca)})
    assert isinstance(tls.client()["ssl_context"], ssl.SSLContext)
    assert tls.faust()["broker_credentials"].protocol.value == "SASL_SSL"
    for env, problem in (({"CENTINELA_KAFKA_SECURITY": "TLS"}, "CENTINELA_KAFKA_SECURITY"),
                         ({"CENTINELA_KAFKA_SECURITY": "SASL_SSL", "CENTINELA_KAFKA_SASL_MECHANISM": "GSSAPI",
                           "CENTINELA_KAFKA_USERNAME": "u", "CENTINELA_KAFKA_PASSWORD": "p"}, "MECHANISM"),
                         ({"CENTINELA_KAFKA_SECURITY": "SASL_PLAINTEXT", "CENTINELA_KAFKA_SASL_MECHANISM": "PLAIN"},
                          "USERNAME"),
                         ({"CENTINELA_KAFKA_SECURITY": "SSL", "CENTINELA_KAFKA_CA": str(tmp_path / "none.pem")},
                          "no such file")):
        with pytest.raises(ConfigError, match=problem):
            KafkaSecurity.from_environment(env)


def test_credentials_in_urls_never_reach_a_log() -> None:
    assert redacted("rtsp://admin:hunter2@10.0.0.5:554/stream1: cannot open") == "rtsp://***@10.0.0.5:554/stream1: cannot open"
    assert redacted("redis://:p4ss@127.0.0.1:6390/0") == "redis://***@127.0.0.1:6390/0"
    assert redacted("http://cam.local/a.mjpg and file.mp4") == "http://cam.local/a.mjpg and file.mp4"
    with pytest.raises(SourceError) as failed:
        FrameSource("rtsp://admin:hunter2@127.0.0.1:9/none", fps=1)
    assert "hunter2" not in str(failed.value) and "rtsp://***@127.0.0.1:9/none" in str(failed.value)


def test_data_directories_and_their_files_are_their_owners_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        data = tmp_path / "data"
        make_private(data)  # made here: Centinela's own, marked as such
        (data / "tables").mkdir()
        (data / "center.log").write_text("from an older run")
        (data / "tables" / "db").write_text("x")
        make_private(data)  # a later start makes all of it private again
        assert stat.S_IMODE(data.stat().st_mode) == 0o700 and stat.S_IMODE((data / "tables").stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "center.log").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "tables" / "db").stat().st_mode) == 0o600
        with private_log(data / "broker-1.log") as log:
            log.write(b"line\n")
        assert stat.S_IMODE((data / "broker-1.log").stat().st_mode) == 0o600
        assert secret_file(data / "redis.password", lambda: "first") == "first"
        assert secret_file(data / "redis.password", lambda: "second") == "first"
        assert stat.S_IMODE((data / "redis.password").stat().st_mode) == 0o600
        child = Child("echo", [sys.executable, "-c", "print('hi')"], env={}, log=data / "worker.log")
        child.start()
        assert child.process is not None and child.process.wait(30) == 0
        assert stat.S_IMODE((data / "worker.log").stat().st_mode) == 0o600
        assert (data / "worker.log").read_text() == "hi\n"
    finally:
        os.umask(old)



def test_the_key_file_is_whole_or_absent_even_if_writing_it_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(descriptor: int) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        internal.ensure_key_file(tmp_path)
    assert list(tmp_path.iterdir()) == [], "no empty or partial key file for the next start to trust"
    monkeypatch.undo()
    assert len(internal.parse_key(internal.ensure_key_file(tmp_path).read_text(), "test")) == 32


def test_a_data_directory_centinela_did_not_make_is_left_as_it_is(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        home = tmp_path / "home"
        (home / "projects").mkdir(parents=True)
        (home / "notes.txt").write_text("the user's own")
        home.chmod(0o755)
        make_private(home)  # --data ~ or --data .
        assert stat.S_IMODE(home.stat().st_mode) == 0o755
        assert stat.S_IMODE((home / "projects").stat().st_mode) == 0o755
        assert stat.S_IMODE((home / "notes.txt").stat().st_mode) == 0o644
        assert not (home / DATA_MARK).exists()
    finally:
        os.umask(old)
