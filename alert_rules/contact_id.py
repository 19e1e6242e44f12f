"""The Contact ID event codes (SIA DC-05) and what each raises by default (contract section 2.4).

`STANDARD` is the complete table of standard codes with their descriptions; `DEFAULT_ALERTS`
maps each code to the alert it raises (category and priority) or to None when it raises
none. The rules file overrides entries per city or per zone (`alert_rules.rules`).
"""

from __future__ import annotations

from typing import NamedTuple

from vocabulary.events import Category

QUALIFIER_NEW = 1
QUALIFIER_RESTORE = 3
QUALIFIER_STILL_PRESENT = 6


class ContactIdAlert(NamedTuple):
    category: Category
    priority: int


STANDARD: dict[int, str] = {
    100: "Medical", 101: "Personal emergency", 102: "Fail to report in",
    110: "Fire", 111: "Smoke", 112: "Combustion", 113: "Water flow", 114: "Heat",
    115: "Pull station", 116: "Duct", 117: "Flame", 118: "Near alarm",
    120: "Panic", 121: "Duress", 122: "Silent", 123: "Audible",
    124: "Duress, access granted", 125: "Duress, egress granted",
    130: "Burglary", 131: "Perimeter", 132: "Interior", 133: "24 hour (safe)", 134: "Entry/exit",
    135: "Day/night", 136: "Outdoor", 137: "Tamper", 138: "Near alarm", 139: "Intrusion verifier",
    140: "General alarm", 141: "Polling loop open", 142: "Polling loop short",
    143: "Expansion module failure", 144: "Sensor tamper", 145: "Expansion module tamper",
    146: "Silent burglary", 147: "Sensor supervision failure",
    150: "24 hour non-burglary", 151: "Gas detected", 152: "Refrigeration", 153: "Loss of heat",
    154: "Water leakage", 155: "Foil break", 156: "Day trouble", 157: "Low bottled gas level",
    158: "High temperature", 159: "Low temperature",
    161: "Loss of air flow", 162: "Carbon monoxide detected", 163: "Tank level",
    200: "Fire supervisory", 201: "Low water pressure", 202: "Low CO2", 203: "Gate valve sensor",
    204: "Low water level", 205: "Pump activated", 206: "Pump failure",
    300: "System trouble", 301: "AC loss", 302: "Low system battery", 303: "RAM checksum bad",
    304: "ROM checksum bad", 305: "System reset", 306: "Panel programming changed",
    307: "Self-test failure", 308: "System shutdown", 309: "Battery test failure",
    310: "Ground fault", 311: "Battery missing/dead", 312: "Power supply overcurrent",
    313: "Engineer reset",
    320: "Sounder/relay", 321: "Bell 1", 322: "Bell 2", 323: "Alarm relay", 324: "Trouble relay",
    325: "Reversing relay", 326: "Notification appliance circuit 3",
    327: "Notification appliance circuit 4",
    330: "System peripheral trouble", 331: "Polling loop open", 332: "Polling loop short",
    333: "Expansion module failure", 334: "Repeater failure", 335: "Local printer out of paper",
    336: "Local printer failure", 337: "Expansion module DC loss",
    338: "Expansion module low battery", 339: "Expansion module reset",
    341: "Expansion module tamper", 342: "Expansion module AC loss",
    343: "Expansion module self-test failure", 344: "RF receiver jam detect",
    350: "Communication trouble", 351: "Telco 1 fault", 352: "Telco 2 fault",
    353: "Long range radio transmitter fault", 354: "Failure to communicate event",
    355: "Loss of radio supervision", 356: "Loss of central polling",
    357: "Long range radio VSWR problem",
    370: "Protection loop", 371: "Protection loop open", 372: "Protection loop short",
    373: "Fire trouble", 374: "Exit error alarm (zone)", 375: "Panic zone trouble",
    376: "Hold-up zone trouble", 377: "Swinger trouble", 378: "Cross-zone trouble",
    380: "Sensor trouble", 381: "Loss of supervision, RF", 382: "Loss of supervision, RPM",
    383: "Sensor tamper", 384: "RF low battery", 385: "Smoke detector high sensitivity",
    386: "Smoke detector low sensitivity", 387: "Intrusion detector high sensitivity",
    388: "Intrusion detector low sensitivity", 389: "Sensor self-test failure",
    391: "Sensor watch trouble", 392: "Drift compensation error", 393: "Maintenance alert",
    400: "Open/close", 401: "Open/close by user", 402: "Group open/close",
    403: "Automatic open/close", 404: "Late to open/close", 405: "Deferred open/close",
    406: "Cancel", 407: "Remote arm/disarm", 408: "Quick arm", 409: "Keyswitch open/close",
    411: "Callback request made", 412: "Successful download/access", 413: "Unsuccessful access",
    414: "System shutdown command received", 415: "Dialer shutdown command received",
    416: "Successful upload",
    421: "Access denied", 422: "Access report by user", 423: "Forced access",
    424: "Egress denied", 425: "Egress granted", 426: "Access door propped open",
    427: "Access point door status monitor trouble", 428: "Access point request to exit trouble",
    429: "Access program mode entry", 430: "Access program mode exit",
    431: "Access threat level change", 432: "Access relay/trigger fail", 433: "Access RTE shunt",
    434: "Access DSM shunt",
    441: "Armed stay", 442: "Keyswitch armed stay",
    450: "Exception open/close", 451: "Early open/close", 452: "Late open/close",
    453: "Failed to open", 454: "Failed to close", 455: "Auto-arm failed", 456: "Partial arm",
    457: "Exit error (user)", 458: "User on premises", 459: "Recent close",
    461: "Wrong code entry", 462: "Legal code entry", 463: "Re-arm after alarm",
    464: "Auto-arm time extended", 465: "Panic alarm reset", 466: "Service on/off premises",
    501: "Access reader disable",
    520: "Sounder/relay disable", 521: "Bell 1 disable", 522: "Bell 2 disable",
    523: "Alarm relay disable", 524: "Trouble relay disable", 525: "Reversing relay disable",
    526: "Notification appliance circuit 3 disable", 527: "Notification appliance circuit 4 disable",
    531: "Module added", 532: "Module removed",
    551: "Dialer disabled", 552: "Radio transmitter disabled",
    553: "Remote upload/download disabled",
    570: "Zone/sensor bypass", 571: "Fire bypass", 572: "24 hour zone bypass",
    573: "Burglary bypass", 574: "Group bypass", 575: "Swinger bypass", 576: "Access zone shunt",
    577: "Access point bypass",
    601: "Manual trigger test report", 602: "Periodic test report",
    603: "Periodic RF transmission", 604: "Fire test", 605: "Status report to follow",
    606: "Listen-in to follow", 607: "Walk test mode",
    608: "Periodic test, system trouble present", 609: "Video transmitter active",
    611: "Point tested OK", 612: "Point not tested", 613: "Intrusion zone walk tested",
    614: "Fire zone walk tested", 615: "Panic zone walk tested", 616: "Service request",
    621: "Event log reset", 622: "Event log 50% full", 623: "Event log 90% full",
    624: "Event log overflow", 625: "Time/date reset", 626: "Time/date inaccurate",
    627: "Program mode entry", 628: "Program mode exit", 629: "32 hour event log marker",
    630: "Schedule change", 631: "Exception schedule change", 632: "Access schedule change",
    641: "Senior watch trouble", 642: "Latch-key supervision",
    651: "Reserved for Ademco use", 652: "Reserved for Ademco use", 653: "Reserved for Ademco use",
    654: "System inactivity",
    900: "Download abort", 901: "Download start/end", 902: "Download interrupted",
    910: "Auto-close with bypass", 911: "Bypass closing", 912: "Fire alarm silence",
    913: "Supervisory point test start/end", 914: "Hold-up test start/end",
    915: "Burglary test print start/end", 916: "Supervisory test print start/end",
    917: "Burglary diagnostics start/end", 918: "Fire diagnostics start/end",
    919: "Untyped diagnostics", 920: "Trouble closing", 921: "Access denied, code unknown",
    922: "Supervisory point alarm", 923: "Supervisory point bypass",
    924: "Supervisory point trouble", 925: "Hold-up point bypass",
    926: "AC failure for 4 hours", 927: "Output trouble", 928: "User code for event",
    929: "Log-off",
}

_MEDICAL = ContactIdAlert("medical", 1)
_FIRE = ContactIdAlert("fire", 1)
_PANIC = ContactIdAlert("panic", 1)
_DURESS = ContactIdAlert("duress", 1)
_INTRUSION = ContactIdAlert("intrusion", 2)
_TAMPER = ContactIdAlert("tamper", 3)
_TROUBLE = ContactIdAlert("trouble", 4)
_WELFARE = ContactIdAlert("welfare", 3)


def _default_alert(code: int) -> ContactIdAlert | None:
    """Contract section 2.4, plus a reading of the codes the contract leaves unnamed."""
    if code in (100, 101):
        return _MEDICAL
    if 110 <= code <= 118:
        return _FIRE
    if code in (120, 122, 123):
        return _PANIC
    if code in (121, 124, 125):
        return _DURESS
    if 130 <= code <= 139 or code in (140, 146, 423):
        return _INTRUSION
    if code in (144, 145, 383):
        return _TAMPER
    if code in (151, 162):  # gas and carbon monoxide: life-safety, the fire brigade answers
        return _FIRE
    if code in (641, 642):  # senior watch and latch-key: nobody stirred in time (contract section 15)
        return _WELFARE
    if 300 <= code <= 399 or code in (102, 141, 142, 143, 147, 922, 924, 926, 927):
        return _TROUBLE
    if 150 <= code <= 163 or 200 <= code <= 206:
        return _TROUBLE
    if 100 <= code <= 199:  # an alarm code this table does not know is still an alarm
        return _INTRUSION
    return None


DEFAULT_ALERTS: dict[int, ContactIdAlert | None] = {code: _default_alert(code) for code in range(100, 1000)}


def describe(code: int) -> str:
    """The standard description of a code, or a generic one for non-standard codes."""
    return STANDARD.get(code) or f"Contact ID {code}"
