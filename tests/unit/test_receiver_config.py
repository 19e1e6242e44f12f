"""The receivers' configuration: panels' DC-09 account and key, the `ingest:` section."""

from __future__ import annotations

from pathlib import Path

import pytest

from centinela.config import ConfigError, load_config

ZONE = "zones: [{id: z1, polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42]]}]\n"


def problems(directory: Path, text: str) -> list[str]:
    (directory / "city.yaml").write_text(ZONE + text)
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


def test_account_defaults_to_the_panel_id_and_keys_of_each_size_load(tmp_path: Path) -> None:
    (tmp_path / "city.yaml").write_text(ZONE + "panels:\n" + "".join(
        f"  - {{id: p{n}, zone: z1, account: 'A{n}', dc09_key: '{'ab' * n}'}}\n" for n in (16, 24, 32))
        + "  - {id: acct-1001, zone: z1}\ningest: {per_device_per_min: 5}\n")
    config = load_config(tmp_path)
    assert [p.account for p in config.city.panels] == ["A16", "A24", "A32", "acct-1001"]
    assert config.ingest.per_device_per_min == 5


@pytest.mark.parametrize(("text", "expected"), [
    ("panels: [{id: p1, zone: z1, dc09_key: 'abcd'}]", "city.yaml: panels[0] (id 'p1'): dc09_key: Value error, must be 16, 24 or 32 bytes"),
    ("panels: [{id: p1, zone: z1, dc09_key: 'zz'}]", "city.yaml: panels[0] (id 'p1'): dc09_key:"),
    ("panels: [{id: p1, zone: z1, account: 'has space'}]", "city.yaml: panels[0] (id 'p1'): account:"),
    ("panels: [{id: p1, zone: z1, account: 'ABC'}, {id: p2, zone: z1, account: 'abc'}]",
     "city.yaml: panels[1] (id 'p2'): account: 'abc' is already the account of panel 'p1'"),
    ("ingest: {per_device_per_min: 0}", "city.yaml: ingest.per_device_per_min:"),
    ("ingest: {per_minute: 3}", "city.yaml: ingest.per_minute: Extra inputs are not permitted"),
])
def test_errors_name_file_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(p.startswith(expected) for p in found), found
