"""What a DC-09 data block says, as a Contact ID signal: ADM-CID and SIA-DCS bodies (contract section 7).

Pure. ADM-CID carries Contact ID itself (`QEEE GG ZZZ`); SIA-DCS carries a two-letter SIA
code, mapped to Contact ID by the contract's table; any other SIA code goes on as 300
(system trouble) with the SIA code kept, so the operator's title can name it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from receivers.dc09 import Unreadable

NEW, RESTORE = 1, 3
UNKNOWN_SIA_CODE = 300

# SIA code -> (Contact ID code, qualifier): contract section 7's table.
SIA_TO_CONTACT_ID: dict[str, tuple[int, int]] = {
    "BA": (130, NEW), "BH": (130, RESTORE),
    "FA": (110, NEW), "FH": (110, RESTORE),
    "PA": (120, NEW), "PH": (120, RESTORE),
    "HA": (121, NEW),
    "MA": (100, NEW), "MH": (100, RESTORE),
    "TA": (144, NEW), "TR": (144, RESTORE),
    "AT": (301, NEW), "AR": (301, RESTORE),
    "YT": (302, NEW), "YR": (302, RESTORE),
    "OP": (401, NEW), "CL": (401, RESTORE),
    "RP": (602, NEW),
    "RX": (601, NEW),
    "YS": (350, NEW),
    "NA": (641, NEW),  # no activity for the programmed time: the panel's senior watch (contract section 15)
}


@dataclass(frozen=True)
class Signal:
    """A Contact ID signal; `sia` is the SIA code it came from when it had no Contact ID of its own."""

    qualifier: int
    code: int
    group: int
    zone: int
    sia: str | None = None


_CONTACT_ID = re.compile(r"([136])([0-9]{3}) ?([0-9]{2}) ?([0-9]{3})")
_SIA_EVENT = re.compile(r"([A-Z]{2})([0-9]{0,4})")
_SIA_FIELD = re.compile(r"([a-z]{2})(.*)")


def adm_cid(body: str) -> Signal:
    """`QEEE GG ZZZ`: qualifier, event code, group (partition), zone or user."""
    found = _CONTACT_ID.fullmatch(body.strip())
    if found is None:
        raise Unreadable("not a Contact ID body (QEEE GG ZZZ)")
    qualifier, code, group, zone = (int(part) for part in found.groups())
    if code < 100:
        raise Unreadable(f"Contact ID code {code:03d} is not an event code")
    return Signal(qualifier, code, group, zone)


def sia_dcs(body: str) -> Signal:
    """`N` then optional `ri`/`id`/`ti`... fields in any order (each ending in "/"), then a
    two-letter code and its zone, as in `Nri1/BA501` or Satel's `Nri2/id1/OP`; text blocks
    after a "|" (like `|Atest`) are ignored."""
    blocks = body.split("|")[0]
    if blocks[:1] in ("N", "O"):  # new event; O(ld) is sent by a few panels for buffered ones
        blocks = blocks[1:]
    group = 0
    for part in filter(None, blocks.split("/")):
        field = _SIA_FIELD.fullmatch(part)
        if field is not None:
            if field[1] == "ri":
                group = _number(field[2], 99, "ri (group)")
            continue
        event = _SIA_EVENT.fullmatch(part)
        if event is None:
            raise Unreadable(f"unreadable SIA block {part!r}")
        sia, zone_text = event.groups()
        zone = _number(zone_text, 999, "zone") if zone_text else 0
        if sia in SIA_TO_CONTACT_ID:
            code, qualifier = SIA_TO_CONTACT_ID[sia]
            return Signal(qualifier, code, group, zone)
        return Signal(NEW, UNKNOWN_SIA_CODE, group, zone, sia=sia)
    raise Unreadable("no SIA event code in the body")


def _number(text: str, most: int, what: str) -> int:
    if not re.fullmatch("[0-9]+", text) or int(text) > most:
        raise Unreadable(f"{what} {text!r} is not a number from 0 to {most}")
    return int(text)
