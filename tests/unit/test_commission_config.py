"""The commission's sections, `interventions:` and `open_data:`, validate with file, entry and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from centinela.cli import main
from centinela.config import ConfigError, load_config

ZONES = """zones:
  - {id: norte, polygon: [[-58.585, -34.42], [-58.57, -34.42], [-58.57, -34.405]]}
  - {id: sur, polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42]]}
"""


def problems(directory: Path, text: str) -> list[str]:
    (directory / "city.yaml").write_text(ZONES + text)
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


def test_interventions_and_open_data_load(tmp_path: Path) -> None:
    (tmp_path / "city.yaml").write_text(ZONES)
    (tmp_path / "commission.yaml").write_text(
        "interventions:\n  - {id: luces-norte, name: Lighting, start: 2026-06-01, zones: [norte]}\n"
        "  - {id: patrulla, start: 2026-09-15, zones: [sur], categories: [panic]}\n"
        "open_data: {enabled: true, min_count: 8}\n")
    config = load_config(tmp_path)
    lights, patrol = config.interventions
    assert (lights.id, lights.start, lights.zones) == ("luces-norte", date(2026, 6, 1), ["norte"])
    assert lights.categories == ["panic", "duress", "intrusion", "medical", "fire"]
    assert patrol.categories == ["panic"]
    assert (config.open_data.enabled, config.open_data.resolution, config.open_data.min_count) == (True, 8, 8)


def test_both_sections_default_to_none_and_closed(tmp_path: Path) -> None:
    (tmp_path / "city.yaml").write_text(ZONES)
    config = load_config(tmp_path)
    assert config.interventions == [] and config.open_data.enabled is False


@pytest.mark.parametrize(("text", "expected"), [
    ("interventions: [{id: x, start: 2026-06-01, zones: [oeste]}]",
     "city.yaml: interventions[0] (id 'x'): zones: unknown zone 'oeste'"),
    ("interventions: [{id: x, start: 2026-06-01, zones: [norte, sur]}]",
     "city.yaml: interventions[0] (id 'x'): zones: every zone is treated"),
    ("interventions: [{id: x, start: 'junio', zones: [norte]}]", "city.yaml: interventions[0] (id 'x'): start:"),
    ("interventions: [{id: x, start: 2026-06-01, zones: []}]", "city.yaml: interventions[0] (id 'x'): zones:"),
    ("interventions: [{id: x, start: 2026-06-01, zones: [norte], categories: [robo]}]",
     "city.yaml: interventions[0] (id 'x'): categories.0:"),
    ("interventions: [{id: x, start: 2026-06-01, zones: [norte]}, {id: x, start: 2026-07-01, zones: [sur]}]",
     "city.yaml: interventions[1] (id 'x'): id: duplicate"),
    ("open_data: {enabled: true, resolution: 12}", "city.yaml: open_data.resolution:"),
    ("open_data: {enabled: true, min_count: 0}", "city.yaml: open_data.min_count:"),
    ("open_data: {enabled: yes, radius: 3}", "city.yaml: open_data.radius:"),
])
def test_a_bad_entry_names_file_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(tmp_path, text)
    assert any(p.startswith(expected) for p in found), found


def test_config_check_reports_an_unknown_zone_of_an_intervention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "city.yaml").write_text(ZONES + "interventions: [{id: x, start: 2026-06-01, zones: [oeste]}]\n")
    assert main(["config", "check", str(tmp_path)]) == 2
    assert "interventions[0] (id 'x'): zones: unknown zone 'oeste'" in capsys.readouterr().err
