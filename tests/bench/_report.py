"""What every benchmark prints and writes: the machine, the settings, the figures."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"


def progress_for(bench: str) -> Callable[[str], None]:
    """A bench's progress lines on stderr, stamped with its name and the time."""

    def progress(text: str) -> None:
        print(f"[{bench} {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    return progress


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0 < q < 1, to a thousandth) of the values."""
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def machine() -> dict[str, Any]:
    import cv2

    model = ""
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        pass
    return {
        "cpu": model or platform.processor(),
        "cores": os.cpu_count(),
        "python": sys.version.split()[0],
        "opencv": cv2.__version__,
        "platform": platform.platform(),
    }


def report(name: str, settings: dict[str, Any], figures: dict[str, Any]) -> Path:
    """Print the figures with the machine and settings, and write bench/results/NAME.json."""
    result = {"bench": name, "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": machine(),
              "settings": settings, "figures": figures}
    print(f"== {name}")
    for section in ("machine", "settings", "figures"):
        for key, value in result[section].items():
            print(f"  {section[:8]:8} {key:40} {value}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"  wrote {path}")
    return path
