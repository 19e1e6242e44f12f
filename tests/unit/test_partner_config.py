"""The `cap:` and `partners:` sections (contract section 16): bad entries name file, entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from centinela.config import ConfigError, load_config

ZONE = "zones: [{id: z1, polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42]]}]\n"
GOOD = "{id: bomberos, name: Bomberos, url: 'https://bomberos.example/cap', key: 'a1b2', token: 'bomberos-feed-token', categories: [fire]}"


def load(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "city.yaml").write_text(ZONE + text)
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    return caught.value.problems


def partner(**changes: str) -> str:
    fields = {"id": "p1", "name": "P", "url": "'https://p.example/cap'", "key": "'a1b2'",
              "token": "'partner-feed-token-1'", "categories": "[fire]", **changes}
    return "{" + ", ".join(f"{k}: {v}" for k, v in fields.items()) + "}"


def test_a_valid_partner_and_cap_section_load(tmp_path: Path) -> None:
    (tmp_path / "city.yaml").write_text(ZONE + f"partners: [{GOOD}]\ncap: {{sender: cot@tigre.gob.ar, language: es-AR}}\n")
    config = load_config(tmp_path)
    firefighters = config.city.partner_by_id["bomberos"]
    assert (firefighters.max_priority, firefighters.include_address) == (5, False)
    assert config.cap.sender == "cot@tigre.gob.ar" and config.cap.language == "es-AR"
    assert "bomberos-feed-token" not in repr(firefighters) and "a1b2" not in repr(firefighters)


@pytest.mark.parametrize("url", ["http://127.0.0.1:9999/cap", "http://localhost/cap", "http://[::1]:8/x",
                                 "https://bomberos.tigre.gob.ar/cap"])
def test_https_or_http_to_loopback(tmp_path: Path, url: str) -> None:
    (tmp_path / "city.yaml").write_text(ZONE + f"partners: [{partner(url=repr(url))}]\n")
    assert load_config(tmp_path).city.partners[0].url == url


@pytest.mark.parametrize(("changes", "expected"), [
    ({"url": "'http://bomberos.example/cap'"}, "city.yaml: partners[0] (id 'p1'): url: Value error, 'http://bomberos.example/cap': must be https"),
    ({"url": "'http://10.0.0.5/cap'"}, "city.yaml: partners[0] (id 'p1'): url: Value error"),
    ({"url": "'ftp://p.example/cap'"}, "city.yaml: partners[0] (id 'p1'): url: Value error"),
    ({"url": "'https://p.example:99999/'"}, "city.yaml: partners[0] (id 'p1'): url: Value error"),
    ({"key": "'not hex'"}, "city.yaml: partners[0] (id 'p1'): key: String should match pattern"),
    ({"key": "'abc'"}, "city.yaml: partners[0] (id 'p1'): key: String should match pattern"),
    ({"token": "short"}, "city.yaml: partners[0] (id 'p1'): token: String should have at least 16 characters"),
    ({"categories": "[ufo]"}, "city.yaml: partners[0] (id 'p1'): categories.0: Input should be"),
    ({"categories": "[]"}, "city.yaml: partners[0] (id 'p1'): categories: List should have at least 1 item"),
    ({"max_priority": "6"}, "city.yaml: partners[0] (id 'p1'): max_priority: Input should be less than or equal to 5"),
    ({"colour": "red"}, "city.yaml: partners[0] (id 'p1'): colour: Extra inputs are not permitted"),
])
def test_bad_partners_name_file_entry_and_field(tmp_path: Path, changes: dict[str, str], expected: str) -> None:
    found = load(tmp_path, f"partners: [{partner(**changes)}]\n")
    assert any(p.startswith(expected) for p in found), found


def test_a_partner_token_is_unique_among_every_token(tmp_path: Path) -> None:
    text = ("tokens: [{token: 'partner-feed-token-1', role: viewer, name: Wall}]\n"
            f"partners: [{partner()}, {partner(id='p2', token=repr('p2-feed-token-xyz'))}, "
            f"{partner(id='p3', token=repr('p2-feed-token-xyz'))}]\n")
    assert load(tmp_path, text) == [
        "city.yaml: partners[0] (id 'p1'): token: duplicate, already the token of tokens entry 'Wall'",
        "city.yaml: partners[2] (id 'p3'): token: duplicate, already the token of partner 'p2'",
    ]


def test_partner_ids_are_unique(tmp_path: Path) -> None:
    found = load(tmp_path, f"partners: [{partner()}, {partner(token=repr('another-token-123456'))}]\n")
    assert found == ["city.yaml: partners[1] (id 'p1'): id: duplicate, already defined at city.yaml: partners[0]"]


@pytest.mark.parametrize(("text", "expected"), [
    ("cap: {sender: 'cot @tigre'}", "city.yaml: cap.sender: String should match pattern"),
    ("cap: {sender: 'a,b'}", "city.yaml: cap.sender: String should match pattern"),
    ("cap: {language: 'español'}", "city.yaml: cap.language: String should match pattern"),
    ("cap: {retry_first_s: 0}", "city.yaml: cap.retry_first_s: Input should be greater than 0"),
    ("cap: {sender: x, colour: red}", "city.yaml: cap.colour: Extra inputs are not permitted"),
])
def test_bad_cap_settings(tmp_path: Path, text: str, expected: str) -> None:
    found = load(tmp_path, text + "\n")
    assert any(p.startswith(expected) for p in found), found
