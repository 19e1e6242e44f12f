"""Load and validate a configuration directory of YAML files (contract section 4).

Every problem is reported at once, each naming its file, entry and field, so a center
fixes its configuration in one pass instead of one error per start-up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from alert_rules.city import Beeper, Camera, City, Panel, Token, Zone
from alert_rules.partners import CapSettings, Partner
from alert_rules.rules import Rules, SilenceSettings
from center.retention import RetentionSettings
from center.sse import LiveStreamSettings
from commission.interventions import Intervention
from commission.open_data import OpenDataSettings
from receivers.settings import IngestSettings
from streams.admit import AdmissionSettings
from streams.health import HealthSettings
from vocabulary.errors import ConfigError

LIST_SECTIONS: dict[str, type[BaseModel]] = {
    "zones": Zone,
    "beepers": Beeper,
    "panels": Panel,
    "cameras": Camera,
    "tokens": Token,
    "partners": Partner,
    "interventions": Intervention,
}
MAPPING_SECTIONS: dict[str, type[BaseModel]] = {
    "rules": Rules,
    "admission": AdmissionSettings,
    "health": HealthSettings,
    "retention": RetentionSettings,
    "ingest": IngestSettings,
    "silences": SilenceSettings,
    "live_streams": LiveStreamSettings,
    "cap": CapSettings,
    "open_data": OpenDataSettings,
}
SECTIONS = (*LIST_SECTIONS, *MAPPING_SECTIONS)


@dataclass(frozen=True)
class Config:
    directory: Path
    city: City
    rules: Rules
    admission: AdmissionSettings
    health: HealthSettings
    retention: RetentionSettings
    ingest: IngestSettings
    silences: SilenceSettings
    live_streams: LiveStreamSettings
    cap: CapSettings
    open_data: OpenDataSettings
    interventions: list[Intervention]


def config_dir(given: str | Path | None) -> Path:
    """--config, else CENTINELA_CONFIG."""
    chosen = given or os.environ.get("CENTINELA_CONFIG")
    if not chosen:
        raise ConfigError(["no configuration: pass --config DIR or set CENTINELA_CONFIG"])
    return Path(chosen)


def load_config(directory: str | Path) -> Config:
    directory = Path(directory)
    if not directory.is_dir():
        raise ConfigError([f"{directory}: not a directory"])
    files = sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise ConfigError([f"{directory}: no .yaml files"])

    problems: list[str] = []
    entries: dict[str, list[tuple[str, str, Any]]] = {name: [] for name in LIST_SECTIONS}
    mappings: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in files:
        document = _read_yaml(path, problems)
        if document is None:
            continue
        for section, value in document.items():
            if section not in SECTIONS:
                problems.append(f"{path.name}: {section}: unknown section (expected one of {', '.join(SECTIONS)})")
            elif section in MAPPING_SECTIONS:
                if section in mappings:
                    problems.append(f"{path.name}: {section}: already given in {mappings[section][0]}; keep it in one file")
                elif not isinstance(value, dict):
                    problems.append(f"{path.name}: {section}: must be a mapping")
                else:
                    mappings[section] = (path.name, value)
            elif not isinstance(value, list):
                problems.append(f"{path.name}: {section}: must be a list of entries")
            else:
                entries[section].extend((path.name, f"{section}[{i}]", item) for i, item in enumerate(value))

    validated = {name: _validate_entries(name, found, problems) for name, found in entries.items()}
    settings = {name: _validate_mapping(name, mappings.get(name), problems) for name in MAPPING_SECTIONS}
    interventions: list[Intervention] = validated.pop("interventions")
    city = City.model_construct(None, **validated)
    _check_references(city, entries, problems)
    _check_accounts(city, entries, problems)
    _check_partner_tokens(city, entries, problems)
    _check_interventions(city, entries, problems)
    if problems:
        raise ConfigError(problems)
    return Config(directory=directory, city=city, interventions=interventions, **settings)  # type: ignore[arg-type]  # each value is its section's model (MAPPING_SECTIONS)


def _read_yaml(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problems.append(f"{path.name}: {where}not valid YAML: {getattr(error, 'problem', error)}")
        return None
    except (OSError, UnicodeDecodeError) as error:
        problems.append(f"{path.name}: cannot be read: {error}")
        return None
    if document is None:
        return {}
    if not isinstance(document, dict):
        problems.append(f"{path.name}: the top level must be a mapping of sections")
        return None
    return document


def _label(entry: str, item: Any) -> str:
    if isinstance(item, dict) and isinstance(item.get("id"), str):
        return f"{entry} (id {item['id']!r})"
    if isinstance(item, dict) and isinstance(item.get("name"), str):
        return f"{entry} (name {item['name']!r})"
    return entry


def _field(location: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in location) or "(entry)"


def _validate_entries(section: str, found: list[tuple[str, str, Any]], problems: list[str]) -> list[Any]:
    model = LIST_SECTIONS[section]
    valid: list[Any] = []
    seen: dict[str, str] = {}
    for file, entry, item in found:
        where = f"{file}: {_label(entry, item)}"
        if not isinstance(item, dict):
            problems.append(f"{where}: must be a mapping of fields")
            continue
        try:
            parsed = model.model_validate(item)
        except ValidationError as error:
            problems.extend(f"{where}: {_field(e['loc'])}: {e['msg']}" for e in error.errors())
            continue
        key = parsed.token if isinstance(parsed, Token) else parsed.model_dump()["id"]
        if key in seen:
            what = "token" if isinstance(parsed, Token) else "id"
            problems.append(f"{where}: {what}: duplicate, already defined at {seen[key]}")
            continue
        seen[key] = f"{file}: {entry}"
        valid.append(parsed)
    return valid


def _validate_mapping(section: str, found: tuple[str, dict[str, Any]] | None, problems: list[str]) -> BaseModel:
    model = MAPPING_SECTIONS[section]
    if found is None:
        return model()
    file, mapping = found
    try:
        return model.model_validate(mapping)
    except ValidationError as error:
        problems.extend(f"{file}: {section}.{_field(e['loc'])}: {e['msg']}" for e in error.errors())
        return model()


def _check_references(city: City, entries: dict[str, list[tuple[str, str, Any]]], problems: list[str]) -> None:
    """Every zone a device, camera or token names must be configured."""
    zones = set(city.zone_by_id)
    where = {
        (section, item.get("id") or item.get("token")): f"{file}: {_label(entry, item)}"
        for section, found in entries.items()
        for file, entry, item in found
        if isinstance(item, dict)
    }
    checks = [
        *(("beepers", b.id, "home_zone", [b.home_zone]) for b in city.beepers),
        *(("panels", p.id, "zone", [p.zone]) for p in city.panels),
        *(("cameras", c.id, "zone", [c.zone]) for c in city.cameras),
        *(("tokens", t.token, "zones", t.zones or []) for t in city.tokens),
    ]
    for section, key, field, named in checks:
        for zone in named:
            if zone not in zones:
                problems.append(f"{where[(section, key)]}: {field}: unknown zone {zone!r}")


def _check_accounts(city: City, entries: dict[str, list[tuple[str, str, Any]]], problems: list[str]) -> None:
    """A DC-09 account (compared without case, as panels write hex either way) names one panel."""
    where = {item.get("id"): f"{file}: {_label(entry, item)}" for file, entry, item in entries["panels"]
             if isinstance(item, dict)}
    seen: dict[str, str] = {}
    for panel in city.panels:
        account = (panel.account or panel.id).upper()
        if account in seen:
            problems.append(f"{where[panel.id]}: account: {panel.account!r} is already the account of panel {seen[account]!r}")
        else:
            seen[account] = panel.id


def _check_partner_tokens(city: City, entries: dict[str, list[tuple[str, str, Any]]], problems: list[str]) -> None:
    """A partner's feed token is a secret of its own: no other partner or `tokens:` entry has it."""
    where = {item.get("id"): f"{file}: {_label(entry, item)}" for file, entry, item in entries["partners"]
             if isinstance(item, dict)}
    seen = {token.token: f"tokens entry {token.name!r}" for token in city.tokens}
    for partner in city.partners:
        if partner.token in seen:
            problems.append(f"{where[partner.id]}: token: duplicate, already the token of {seen[partner.token]}")
        else:
            seen[partner.token] = f"partner {partner.id!r}"


def _check_interventions(city: City, entries: dict[str, list[tuple[str, str, Any]]], problems: list[str]) -> None:
    """An intervention names configured zones, and leaves at least one zone to compare with."""
    zones = set(city.zone_by_id)
    for file, entry, item in entries["interventions"]:
        if not isinstance(item, dict) or not isinstance(item.get("zones"), list):
            continue
        where = f"{file}: {_label(entry, item)}"
        for zone in item["zones"]:
            if zone not in zones:
                problems.append(f"{where}: zones: unknown zone {zone!r}")
        if zones and zones <= set(item["zones"]):
            problems.append(f"{where}: zones: every zone is treated, so none is left to compare with")
