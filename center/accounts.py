"""What an operator sees of an alert's account and action plan (contract section 8). Pure.

Operators and supervisors see the whole account: the call list with its phones, and the
passcode. Responders and viewers see where and who (address, location, occupants, wearer,
instructions), never a phone or the passcode.
"""

from __future__ import annotations

from pydantic import BaseModel

from alert_rules.city import Beeper, City, Contact, Panel
from alert_rules.engine import plan_of
from alert_rules.plans import PlanStep
from alert_rules.rules import Rules
from vocabulary.events import Alert, StepOutcomeName, Timestamp


class Place(BaseModel):
    lat: float
    lon: float


class ContactView(BaseModel):
    name: str
    relation: str
    phone: str


class Account(BaseModel):
    kind: str
    id: str
    address: str | None = None
    location: Place | None = None
    occupants: str | None = None
    wearer: str | None = None
    instructions: str | None = None
    contacts: list[ContactView] | None = None  # operators and supervisors only
    has_passcode: bool = False  # the passcode itself only from the audited reveal


class PlanStepView(BaseModel):
    id: str
    text: str
    outcome: StepOutcomeName | None = None
    by: str | None = None
    at: Timestamp | None = None
    note: str | None = None


class Plan(BaseModel):
    account: Account
    steps: list[PlanStepView]


def device_of(city: City, alert: Alert) -> Panel | Beeper | None:
    if alert.source.kind == "alarm":
        return city.panel_by_id.get(alert.source.id)
    if alert.source.kind == "beeper":
        return city.beeper_by_id.get(alert.source.id)
    return None


def plan_steps(rules: Rules, city: City, alert: Alert) -> list[PlanStep]:
    """The alert's plan, as the engine finds it."""
    return plan_of(city, rules, alert.zone_id, alert.category, alert.source.kind, alert.source.id)


def account(city: City, alert: Alert, full: bool) -> Account:
    device = device_of(city, alert)
    found = Account(kind=alert.source.kind, id=alert.source.id)
    if device is None:
        return found
    found.contacts = [_contact(c) for c in device.contacts] if full else None
    if isinstance(device, Beeper):
        found.wearer = device.wearer
        return found
    found.address = device.address
    found.location = Place(lat=device.location.lat, lon=device.location.lon) if device.location else None
    found.occupants = device.occupants
    found.instructions = device.instructions
    found.has_passcode = device.passcode is not None
    return found


def plan(rules: Rules, city: City, alert: Alert, full: bool) -> Plan:
    """The account and the plan's steps, each with its latest recorded outcome."""
    latest = {s.step: s for s in alert.steps}
    steps = []
    for step in plan_steps(rules, city, alert):
        done = latest.get(step.id)
        steps.append(PlanStepView(id=step.id, text=step.text) if done is None else PlanStepView(
            id=step.id, text=step.text, outcome=done.outcome, by=done.by, at=done.at, note=done.note))
    return Plan(account=account(city, alert, full), steps=steps)


def passcode(city: City, alert: Alert) -> str | None:
    device = device_of(city, alert)
    if isinstance(device, Panel) and device.passcode is not None:
        return device.passcode.get_secret_value()
    return None


def _contact(contact: Contact) -> ContactView:
    return ContactView(name=contact.name, relation=contact.relation, phone=contact.phone)
