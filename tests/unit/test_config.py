"""A configuration that does not validate names the file, the entry and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from centinela.cli import main
from centinela.config import ConfigError, load_config

ZONE = "{id: z1, polygon: [[-58.585, -34.43], [-58.57, -34.43], [-58.57, -34.42]]}"


def write(directory: Path, **files: str) -> Path:
    for name, text in files.items():
        (directory / name).write_text(text)
    return directory


def problems(directory: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(directory)
    return caught.value.problems


def test_the_example_city_loads(example_config: Path) -> None:
    config = load_config(example_config)
    assert "tigre-centro" in config.city.zone_by_id
    assert config.city.beeper_by_id["bpr-0002"].key
    assert config.city.cameras_by_zone["tigre-centro"] == ["cam-001"]


@pytest.mark.parametrize(("text", "expected"), [
    ("zones: [{id: z1, polygon: [[0, 0], [1, 1]]}]", "zones.yaml: zones[0] (id 'z1'): polygon:"),
    ("zones: [{id: 'bad id', polygon: [[0, 0], [1, 1], [1, 0]]}]", "zones.yaml: zones[0] (id 'bad id'): id:"),
    ("zones: [{id: z1, polygon: [[-200, 0], [1, 1], [1, 0]]}]", "zones.yaml: zones[0] (id 'z1'): polygon:"),
    (f"zones: [{ZONE}]\nbeepers: [{{id: b1, home_zone: nowhere}}]", "zones.yaml: beepers[0] (id 'b1'): home_zone: unknown zone 'nowhere'"),
    (f"zones: [{ZONE}]\nbeepers: [{{id: b1, home_zone: z1, key: xyz}}]", "zones.yaml: beepers[0] (id 'b1'): key:"),
    (f"zones: [{ZONE}]\npanels: [{{id: p1, zone: z1, supervision_s: -5}}]", "zones.yaml: panels[0] (id 'p1'): supervision_s:"),
    (f"zones: [{ZONE}]\npanels: [{{id: p1, zone: z1, colour: red}}]", "zones.yaml: panels[0] (id 'p1'): colour: Extra inputs"),
    (f"zones: [{ZONE}]\ncameras: [{{id: c1}}]", "zones.yaml: cameras[0] (id 'c1'): zone: Field required"),
    (f"zones: [{ZONE}, {ZONE}]", "zones.yaml: zones[1] (id 'z1'): id: duplicate, already defined at zones.yaml: zones[0]"),
    (f"zones: [{ZONE}]\ntokens: [{{token: short, role: operator, name: x}}]", "zones.yaml: tokens[0] (name 'x'): token:"),
    (f"zones: [{ZONE}]\ntokens: [{{token: longenough, role: king, name: x}}]", "zones.yaml: tokens[0] (name 'x'): role:"),
    (f"zones: [{ZONE}]\ntokens: [{{token: longenough, role: responder, name: x}}]", "zones.yaml: tokens[0] (name 'x'): (entry): Value error, a responder token must name its zones"),
    (f"zones: [{ZONE}]\ntokens: [{{token: longenough, role: responder, name: x, zones: [z9]}}]", "zones.yaml: tokens[0] (name 'x'): zones: unknown zone 'z9'"),
    ("zones: {id: z1}", "zones.yaml: zones: must be a list of entries"),
    ("zones: [just-a-string]", "zones.yaml: zones[0]: must be a mapping of fields"),
    ("districts: []", "zones.yaml: districts: unknown section"),
    ("zones: [\n  {id: z1", "zones.yaml: line"),
    ("- a list at the top", "zones.yaml: the top level must be a mapping of sections"),
    ("admission: {stale_s: -1}", "zones.yaml: admission.stale_s:"),
    ("admission: []", "zones.yaml: admission: must be a mapping"),
    ("admission: {duplicate_memory_s: 100}", "zones.yaml: admission.(entry): Value error, duplicate_memory_s must be at least"),
    ("silences: {max_s: 0}", "zones.yaml: silences.max_s:"),
    *((f"zones: [{ZONE}]\ntokens: [{{token: longenough, role: responder, name: x, zones: [z1], webhook: '{url}'}}]",
       "zones.yaml: tokens[0] (name 'x'): webhook: Value error") for url in (
        "patrol.example/hook", "ftp://patrol.example/hook", "http://", "http://patrol.example:99999/",
        "http://patrol.example/a b", " http://patrol.example/")),
])
def test_each_problem_names_file_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    found = problems(write(tmp_path, **{"zones.yaml": text}))
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    write(tmp_path, **{
        "a.yaml": "zones: [{id: z1, polygon: []}]",
        "b.yaml": "beepers: [{id: b1, home_zone: z1}, {id: b2}]",
    })
    found = problems(tmp_path)
    assert any(p.startswith("a.yaml: zones[0]") for p in found)
    assert any(p.startswith("b.yaml: beepers[1] (id 'b2'): home_zone") for p in found)


def test_a_camera_motion_setting_is_checked(tmp_path: Path) -> None:
    write(tmp_path, **{"city.yaml": f"zones: [{ZONE}]\ncameras: [{{id: c1, zone: z1, motion: {{no_such_knob: 3}}}}]"})
    assert any(p.startswith("city.yaml: cameras[0] (id 'c1'): motion.no_such_knob:") for p in problems(tmp_path))


def test_sections_may_be_split_across_files(tmp_path: Path) -> None:
    write(tmp_path, **{"zones.yaml": f"zones: [{ZONE}]", "devices.yml": "beepers: [{id: b1, home_zone: z1}]"})
    assert load_config(tmp_path).city.beeper_by_id["b1"].home_zone == "z1"


def test_an_empty_or_missing_directory_is_an_error(tmp_path: Path) -> None:
    assert problems(tmp_path) == [f"{tmp_path}: no .yaml files"]
    assert problems(tmp_path / "nope") == [f"{tmp_path / 'nope'}: not a directory"]


def test_config_check_exits_2_and_prints_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, **{"zones.yaml": "zones: [{id: z1, polygon: []}, {id: z2}]"})
    assert main(["config", "check", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "zones.yaml: zones[0] (id 'z1'): polygon" in err
    assert "zones.yaml: zones[1] (id 'z2'): polygon: Field required" in err
    assert "Traceback" not in err


def test_config_check_exits_0_on_the_example(example_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "check", str(example_config)]) == 0
    assert "ok: 3 zones" in capsys.readouterr().out
