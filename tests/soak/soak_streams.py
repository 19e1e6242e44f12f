"""The streams soak (`make soak`): kill-and-restart and rebalance rounds, repeated, under CPU hogs.

Each kill round kills a worker outright mid-stream and sends half of the panics while no
worker runs; each rebalance round runs two workers and takes one away mid-stream. Both
cores are kept busy by CPU hogs throughout. It prints each round as it ends and, at the
end, rounds passed, panics lost, alerts doubled and stalls; it exits 1 unless every round
passed. Logs of failed rounds are kept under --workdir.

    python tests/soak/soak_streams.py [--rounds 30] [--rebalance-rounds 5] [--seed N] [--partitions 4]
"""

from __future__ import annotations

import os
import platform
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from deploy.stack import Stack
from tests.soak.rounds import Round, cpu_hogs, kill_and_restart, rebalance, soak_parser, soak_workdir


def main() -> int:
    parser = soak_parser(__doc__)
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("ROUNDS", 30)), help="kill-and-restart rounds")
    parser.add_argument("--rebalance-rounds", type=int, default=int(os.environ.get("REBALANCE_ROUNDS", 5)))
    parser.add_argument("--hogs", type=int, default=2, help="CPU-burning processes beside the stack")
    parser.add_argument("--partitions", type=int, default=4, help="partitions per topic (the workers read the count)")
    args = parser.parse_args()
    workdir = soak_workdir(args.workdir, "streams")
    rng = random.Random(args.seed)
    print(f"soak: {args.rounds} kill rounds, {args.rebalance_rounds} rebalance rounds, {args.hogs} CPU hogs, "
          f"seed {args.seed}, {args.partitions} partitions; {os.cpu_count()} cores, {platform.python_version()}; logs in {workdir}", flush=True)
    results: list[Round] = []
    started = time.monotonic()
    with Stack(partitions=args.partitions, workdir=workdir / "stack") as stack, cpu_hogs(args.hogs):
        assert stack.cluster is not None
        os.environ.update(stack.cluster.security("admin").environment())  # the workers and readers log in as it
        plan = [("kill", n) for n in range(args.rounds)] + [("rebalance", n) for n in range(args.rebalance_rounds)]
        for number, (kind, n) in enumerate(plan, 1):
            name = f"s{args.seed % 100000}{kind[0]}{n}"
            where = workdir / name
            run = kill_and_restart if kind == "kill" else rebalance
            try:
                result = run(stack, where, name, rng)
            except Exception as error:  # a round that crashes is a failed round, and the soak goes on
                result = Round(f"{kind} {name}", problems=[f"{type(error).__name__}: {error}"])
            results.append(result)
            if result.passed:
                shutil.rmtree(where, ignore_errors=True)
            passed = sum(r.passed for r in results)
            print(f"[{number}/{len(plan)}] {result.summary()}  ({passed}/{len(results)} passed so far)", flush=True)
    kills = [r for r in results if r.name.startswith("kill")]
    rebalances = [r for r in results if r.name.startswith("rebalance")]
    print(f"\nsoak finished in {time.monotonic() - started:.0f} s")
    print(f"kill-and-restart rounds passed: {sum(r.passed for r in kills)}/{len(kills)}")
    print(f"rebalance rounds passed:        {sum(r.passed for r in rebalances)}/{len(rebalances)}")
    print(f"panics sent {sum(r.sent for r in results)}, lost {sum(r.lost for r in results)}, "
          f"alerts doubled {sum(r.doubled for r in results)}, stalls {sum(r.stalled for r in results)} "
          f"(stalled lanes restarted by their workers: {sum(r.healed for r in results)})")
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
