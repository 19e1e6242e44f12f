from __future__ import annotations

from alert_rules.contact_id import DEFAULT_ALERTS, STANDARD, describe


def test_every_code_has_a_default_and_every_standard_code_a_description() -> None:
    assert set(DEFAULT_ALERTS) == set(range(100, 1000))
    assert all(100 <= code <= 999 and text for code, text in STANDARD.items())
    assert describe(130) == "Burglary" and describe(777) == "Contact ID 777"


def test_the_contract_ranges() -> None:
    assert all(DEFAULT_ALERTS[c] == ("trouble", 4) for c in range(300, 400) if c != 383)
    assert DEFAULT_ALERTS[383] == ("tamper", 3)
    assert all(DEFAULT_ALERTS[c] is None for c in (*range(401, 410), 601, 602))
