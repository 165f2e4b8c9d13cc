"""Benchmark: streaming a long table. ``lrplan table SPEC --steps 1M --every 1 --format csv|json`` (1,000,001
rows) as fresh processes, against numpy's own ``np.savetxt`` of the same (step, lr) rows in the same run
(target: at least 1M rows/s, with flat memory: peak RSS does not grow with the number of rows).

Every command, lrplan's and the peer's, runs RUNS times, interleaved (so a burst of load from elsewhere on a
shared machine hits both alike); a row gives the best run's rows/s (the least disturbed) and, in
``spread``, the slowest and the median, and the largest peak RSS of all runs. Peak RSS is read from the
child's ``ru_maxrss`` (os.wait4); rows/s counts the whole command, start-up included. The peer writes two
columns with ``%.17g`` (17 digits, not the shortest that read back): a floor of what numpy itself does, not
the same text. The same command at 10M steps with ``--every 10`` (also 1M rows) shows that the evaluation
range does not change the memory either; text and Markdown (6 significant digits, for reading) and a
framework config (Megatron flags: a step note per row) are measured too, without a goal.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time

SPEC = "warmup=2000,cosine,min=0.1"
MEGATRON = "--lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine --lr-warmup-iters 2000 --train-iters 1000000"
ROWS = 1_000_001
RUNS = int(os.environ.get("LRPLAN_BENCH_RUNS", "5"))


def run_child(cmd: list[str], out_path: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one process writing to ``out_path``."""
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{cmd} failed")
    return wall, usage.ru_maxrss / 1024


PEER = """
import sys
import numpy as np
from lrplan.evaluate import lr
from lrplan.spec import parse_spec
s = parse_spec("warmup=2000,cosine,min=0.1", steps="1M", lr=3e-4)
k = np.arange(1_000_001)
np.savetxt(sys.stdout.buffer, np.column_stack([k, lr(s, k)]), fmt=["%d", "%.17g"], delimiter=",")
"""

# (name, lrplan arguments, goal): rows/s and peak RSS of each
CASES = [
    ("table --steps 1M --every 1 --format csv", [SPEC, "--steps", "1M", "--every", "1", "--format", "csv"], True),
    ("table --steps 1M --every 1 --format json", [SPEC, "--steps", "1M", "--every", "1", "--format", "json"], True),
    ("table --steps 10M --every 10 --format csv", [SPEC, "--steps", "10M", "--every", "10", "--format", "csv"], True),
    ("table --steps 1M --every 1 --format text", [SPEC, "--steps", "1M", "--every", "1", "--format", "text"], False),
    ("table --steps 1M --every 1 --format md", [SPEC, "--steps", "1M", "--every", "1", "--format", "md"], False),
    ("table MEGATRON_FLAGS --every 1 --format csv (a step note a row)", [MEGATRON, "--every", "1", "--format", "csv"],
     False),
]


def run() -> list[dict]:
    tmp = tempfile.mkdtemp(prefix="lrplan-bench-table-")
    out = os.path.join(tmp, "table")
    cmds = {"peer": [sys.executable, "-c", PEER]}
    for name, args, _ in CASES:
        lr = ["--lr", "3e-4"] if args[0] == SPEC else []
        cmds[name] = [sys.executable, "-m", "lrplan", "table", *args, *lr]
    times: dict[str, list[float]] = {k: [] for k in cmds}
    rss: dict[str, list[float]] = {k: [] for k in cmds}
    try:
        for _ in range(RUNS):
            for key, cmd in cmds.items():
                wall, mb = run_child(cmd, out)
                times[key].append(wall)
                rss[key].append(mb)
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    peer_rate = ROWS / min(times["peer"])
    peer_mb = max(rss["peer"])
    rows = []
    for name, _, goal in CASES:
        rates = sorted(ROWS / t for t in times[name])
        rate, mb = rates[-1], max(rss[name])
        spread = f"{RUNS} runs: slowest {rates[0] / 1e6:.2f}M, median {statistics.median(rates) / 1e6:.2f}M"
        row = {"target": f"{name}: rows/s (1,000,001 rows)", "lrplan": round(rate), "peer": round(peer_rate),
               "peer_name": "np.savetxt of (step, lr)", "ratio": round(rate / peer_rate, 2), "spread": spread}
        row.update({"goal": ">= 1M rows/s", "pass": rate >= 1_000_000} if goal else {"goal": "-"})
        rows.append(row)
        row = {"target": f"{name}: peak RSS MB", "lrplan": round(mb, 1), "peer": round(peer_mb, 1),
               "peer_name": "np.savetxt of (step, lr)", "ratio": round(mb / peer_mb, 2)}
        row.update({"goal": "flat (< 150 MB)", "pass": mb < 150})
        rows.append(row)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
