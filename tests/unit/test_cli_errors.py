"""One error hierarchy: every command gives the same bad input the same exit code and one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from centinela import cli
from vocabulary.errors import USAGE

COMMANDS = [
    ["config", "check", "{dir}"],
    ["up", "--config", "{dir}"],
    ["worker", "--config", "{dir}"],
    ["center", "--config", "{dir}"],
    ["receiver", "--config", "{dir}"],
    ["simulate", "--config", "{dir}", "--duration", "1"],
    ["cameras", "run", "--config", "{dir}"],
    ["rules", "replay", "--config", "{dir}", "{dir}/events.jsonl"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv[:2]))
def test_every_command_gives_a_bad_configuration_the_same_exit_code(
        argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "zones.yaml").write_text("zones: [{id: z1}]")
    assert cli.main([part.format(dir=tmp_path) for part in argv]) == USAGE
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [f"centinela {argv[0]}: config: zones.yaml: zones[0] (id 'z1'): polygon: Field required"]
