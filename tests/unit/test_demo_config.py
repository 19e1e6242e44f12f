"""The demo's copy of the city holds its phones, addresses and passcodes: it is its owner's alone."""

from __future__ import annotations

import stat
from pathlib import Path

from centinela.demo_commands import demo_config


def test_a_copy_left_open_by_an_older_demo_is_made_private(tmp_path: Path) -> None:
    target = tmp_path / "config"
    target.mkdir(mode=0o755)
    (target / "devices.yaml").write_text("old copy\n")
    (target / "devices.yaml").chmod(0o644)

    directory, _ = demo_config(target)

    assert directory == target
    assert stat.S_IMODE(target.stat().st_mode) == 0o700
    assert "old copy" not in (target / "devices.yaml").read_text()
