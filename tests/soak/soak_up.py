"""The whole system under fire (`make soak`, after the streams soak): `centinela up` on a drawn
city, panics flowing, its worker and its lanes killed outright at random moments.

This is the streams issue's outside check as an operator would run it: the embedded broker,
Redis, the center and the receivers as `up` starts them, and `up` restarting what is killed.
The city's shape is drawn like a soak round's (tests/soak/rounds.py: 1 to 8 zones, 8 to 40
beepers, about half panicking from a location). Volleys of panics (one from every beeper,
each acknowledged by the broker) and camera motion follow each other for --seconds, while
the worker or one of its lanes is SIGKILLed every 4 to 15 s. Then every acknowledged panic
must be counted once, in order, in the alert of the zone it came from, one alert per
beeper, with consecutive versions and never two different snapshots under one version.
It prints each kill as it happens and the result at the end; it exits 1 on any problem.

    python tests/soak/soak_up.py [--seconds 240] [--seed N] [--workdir DIR]   (or UP_SECONDS=n make soak)
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.alerts import AlertWatch
from tests.integration.system import System
from tests.soak.rounds import (
    City,
    Round,
    all_counted,
    check,
    count_healed,
    send_panics,
    soak_parser,
    soak_workdir,
    wait_unless_stalled,
)

TARGETS = ("worker-1", "worker-1.urgent", "worker-1.evaluate", "worker-1.motion")
OPERATOR_TOKEN = 'tokens:\n  - {token: "op-secret", role: operator, name: "Operator 1"}\n'  # System's


def main() -> int:
    parser = soak_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("UP_SECONDS", 240)))
    args = parser.parse_args()
    rng = random.Random(args.seed)
    workdir = soak_workdir(args.workdir, "up")
    city = City.drawn(f"u{args.seed % 100000}", rng)
    city.located.pop(0, None)  # beeper 0 is `up`'s readiness probe, which sends no location
    system = System(workdir, stall_s=10)
    city.write(system.config)
    with (system.config / "city.yaml").open("a") as yaml:
        yaml.write(OPERATOR_TOKEN)
    (system.config / "rules.yaml").unlink()  # System's fast rules name zones this city has not
    result, kills = Round(f"up {city}"), 0
    print(f"soak of `centinela up`: {city}, {args.seconds:.0f} s of panics and kills, seed {args.seed}; "
          f"logs in {workdir}", flush=True)
    started = time.monotonic()
    with system:
        sent = {f"{city.name}-b0": [system.wait_ready(probe=f"{city.name}-b0")]}
        os.environ.update(system.security("admin").environment())  # the soak's own readers log in as the admin
        watch = AlertWatch(system, from_start=True)
        next_kill = time.monotonic() + rng.uniform(4, 15)
        try:
            while time.monotonic() - started < args.seconds:
                sent = send_panics(system, city, 1, sent)
                if time.monotonic() >= next_kill:
                    kills += kill(system, rng.choice(TARGETS), time.monotonic() - started)
                    next_kill = time.monotonic() + rng.uniform(4, 15)
                time.sleep(rng.uniform(0.5, 1.5))
            wait_unless_stalled(watch, all_counted(city, sent), result, timeout_s=300)
            check(watch, city, sent, result)
        finally:
            watch.close()
    count_healed(system.data, result)
    result.seconds = time.monotonic() - started
    print(result.summary())
    print(f"{kills} kills; panics sent {result.sent}, lost {result.lost}, alerts doubled {result.doubled}, "
          f"stalls {int(result.stalled)}")
    return 0 if result.passed else 1


def kill(system: System, name: str, at_s: float) -> bool:
    """SIGKILL the process `up` runs under `name`, if it runs now."""
    try:
        record = system.records().get(name)
        if record is None or not record.pid or record.state != "running":
            return False
        os.kill(record.pid, signal.SIGKILL)
    except (redis.RedisError, OSError):
        return False
    print(f"  {at_s:5.0f} s: killed {name} (pid {record.pid})", flush=True)
    return True


if __name__ == "__main__":
    sys.exit(main())
