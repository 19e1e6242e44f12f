"""The cluster's failover under fire (`make soak`, fourth part): `centinela up --brokers 3`, DC-09 panels,
HTTP phones and camera motion sending, and every 20 to 40 s the node leading the most partitions of
devices.beeps, zone.events and alerts SIGKILLed (`up` restarts it). At the end every acknowledged
panic must be counted exactly once. It prints each kill's figures and exits 1 on any problem.

    python tests/soak/soak_failover.py [--kills 20] [--seed N] [--workdir DIR]   (or FAILOVER_KILLS=n make soak)
"""

from __future__ import annotations

import os
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.integration.devices import check_counted_once, install_devices
from tests.integration.failover import kill_leaders, long_grouping
from tests.integration.system import System
from tests.soak.rounds import soak_parser, soak_workdir


def main() -> int:
    parser = soak_parser(__doc__)
    parser.add_argument("--kills", type=int, default=int(os.environ.get("FAILOVER_KILLS", 20)))
    args = parser.parse_args()
    workdir = soak_workdir(args.workdir, "failover")
    print(f"failover soak: up --brokers 3, {args.kills} kills of the leading node every 20-40 s, seed {args.seed}; "
          f"logs in {workdir}", flush=True)
    system = System(workdir, stall_s=30, brokers=3)
    install_devices(system)
    long_grouping(system)
    try:
        with system:
            system.wait_ready(timeout_s=150)
            acked, kills = kill_leaders(system, args.kills, (20, 40), random.Random(args.seed), report=True)
            for number, kill in enumerate(kills, 1):
                print(f"kill {number}: {kill}", flush=True)
            check_counted_once(system, acked)
    except AssertionError as failure:
        print(f"FAILED: {failure}", flush=True)
        return 1
    alert_gaps, ack_gaps = [k.alert_gap_s for k in kills], [k.ack_gap_s for k in kills]
    print(f"{len(kills)} kills: {len(acked.frames)} DC-09 frames and {len(acked.beeps)} beeps acknowledged, "
          f"0 lost, 0 doubled; gap in alert delivery p50 {statistics.median(alert_gaps):.2f} s, max "
          f"{max(alert_gaps):.2f} s; in acknowledgements p50 {statistics.median(ack_gaps):.2f} s, max "
          f"{max(ack_gaps):.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
