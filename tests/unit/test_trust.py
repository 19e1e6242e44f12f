"""Contract section 9, the pure parts: internal MACs, the internal key, Kafka security settings,
redaction of credentials, private files."""

from __future__ import annotations

import os
import ssl
import stat
import sys
from pathlib import Path

import pytest

from deploy.stack import make_private, private_log, secret_file
from deploy.supervisor import Child
from detectors.sources import FrameSource, SourceError
from vocabulary import internal
from vocabulary.errors import ConfigError
from vocabulary.kafka_security import KafkaSecurity
from vocabulary.redaction import redacted

KEY = bytes(range(32))


def test_a_mac_binds_topic_key_and_value_and_nothing_else_verifies() -> None:
    headers = internal.headers(KEY, "alerts", b"zone-a", b'{"version": 1}')
    assert internal.verify(KEY, "alerts", b"zone-a", b'{"version": 1}', headers)
    assert internal.verify(KEY, "alerts", b"zone-a", b'{"version": 1}', dict(headers))  # Faust may give a mapping
    for topic, key, value in (("zone.events", b"zone-a", b'{"version": 1}'), ("alerts", b"zone-b", b'{"version": 1}'),
                              ("alerts", b"zone-a", b'{"version": 2}'), ("alerts", None, b'{"version": 1}'),
                              ("alertsz", b"one-a", b'{"version": 1}')):
        assert not internal.verify(KEY, topic, key, value, headers), (topic, key, value)
    assert not internal.verify(bytes(32), "alerts", b"zone-a", b'{"version": 1}', headers)
    for found in (None, [], [("other", headers[0][1])], headers * 2, [(internal.HEADER, "text, not bytes")]):
        assert not internal.verify(KEY, "alerts", b"zone-a", b'{"version": 1}', found), found  # type: ignore[arg-type]
    assert not internal.verify(KEY, "alerts", b"zone-a", None, headers)


def test_the_internal_key_comes_from_the_environment_or_its_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(internal.KEY_ENV, raising=False)
    monkeypatch.delenv(internal.KEY_FILE_ENV, raising=False)
    with pytest.raises(ConfigError, match="no internal key"):
        internal.key_from_environment()
    path = internal.ensure_key_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert internal.ensure_key_file(tmp_path) == path and len(bytes.fromhex(path.read_text())) == 32  # made once
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
        (data / "tables").mkdir(parents=True)
        (data / "center.log").write_text("from an older run")
        (data / "tables" / "db").write_text("x")
        make_private(data)
        assert stat.S_IMODE(data.stat().st_mode) == 0o700 and stat.S_IMODE((data / "tables").stat().st_mode) == 0o700
        assert stat.S_IMODE((data / "center.log").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "tables" / "db").stat().st_mode) == 0o600
        with private_log(data / "tansu.log") as log:
            log.write(b"line\n")
        assert stat.S_IMODE((data / "tansu.log").stat().st_mode) == 0o600
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

