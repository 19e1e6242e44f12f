"""The broker killed under `centinela up`, again and again (`make soak`, third part): each round a fresh
`up`, DC-09 panels and HTTP phones sending panics, the broker SIGKILLed a third of the way in and
restarted by `up`; every panic acknowledged to a device must be counted exactly once in its alert.
It prints each round and exits 1 on the first failure.

    python tests/soak/soak_broker.py [--rounds 20] [--workdir DIR]   (or BROKER_ROUNDS=n make soak)
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.devices import check_counted_once, install_devices
from tests.integration.system import System
from tests.integration.test_broker_durability import (
    kill_the_broker_while_devices_send,
)
from tests.soak.rounds import soak_parser, soak_workdir


def main() -> int:
    parser = soak_parser(__doc__, seeded=False)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BROKER_ROUNDS", 20)))
    args = parser.parse_args()
    workdir = soak_workdir(args.workdir, "broker")
    print(f"soak of the broker's SIGKILL under `centinela up`: {args.rounds} rounds; logs in {workdir}", flush=True)
    started = time.monotonic()
    for number in range(1, args.rounds + 1):
        system = System(workdir / f"round-{number}", stall_s=30)
        install_devices(system)
        try:
            with system:
                system.wait_ready()
                acked, back_s = kill_the_broker_while_devices_send(system)
                check_counted_once(system, acked)
        except AssertionError as failure:
            print(f"round {number}: FAILED: {failure}", flush=True)
            return 1
        print(f"round {number}/{args.rounds}: {len(acked.frames)} DC-09 frames and {len(acked.beeps)} beeps "
              f"acknowledged, {acked.retries} sends retried, broker back in {back_s:.1f} s; "
              f"0 lost, 0 doubled", flush=True)
    print(f"{args.rounds} rounds passed in {time.monotonic() - started:.0f} s: 0 lost, 0 doubled", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
