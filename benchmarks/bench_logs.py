"""Benchmark: reading and checking a 1,000,000-point TensorBoard event file, side by side with tensorboard's own
``EventAccumulator``; and ``fit`` of the same 1M points.

The event file is written by torch's ``SummaryWriter.add_scalar("train/learning_rate", lr, k)`` (default
old-style ``simple_value``, as HF's TensorBoardCallback and most loops write it) for k = 0..999,999 of a cosine
from 3e-4: the real writer's bytes, ~59 MB. Writing it goes through tensorboard's pure-Python CRC-32C and takes
minutes, so it is kept in ``$TMPDIR/lrplan-bench-logs/`` for the next run (``--events FILE`` uses another).

Each side runs in a fresh process; its peak RSS comes from ``os.wait4``, its times from the process itself
(after its imports) and as the whole process's wall and CPU time:

* lrplan: ``lrplan.logs.read`` + ``lrplan.runcheck.check`` against ``cosine --steps 1M --lr 3e-4`` (every point
  compared), and the whole ``lrplan check FILE cosine --steps 1M --lr 3e-4 --no-chart`` command;
* peer: ``EventAccumulator(path, size_guidance={"scalars": 0})`` (0 = keep every point: the default keeps
  10,000 by reservoir sampling), ``Reload()``, ``Scalars(tag)`` into numpy arrays — loading only, no check;
* fit: ``lrplan.fit.fit`` of the series read (the read is not counted).

Needs torch (to write the file once) and tensorboard (the peer). ``run()`` returns rows for benchmarks/run.py;
``python benchmarks/bench_logs.py [--events FILE]`` prints them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N = 1_000_000
TAG = "train/learning_rate"
PLAN = ("cosine", "--steps", "1M", "--lr", "3e-4")
REPEATS = 3
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

WRITER = """
import math, sys
from torch.utils.tensorboard import SummaryWriter
n, out = int(sys.argv[1]), sys.argv[2]
w = SummaryWriter(log_dir=out, max_queue=1000, flush_secs=3600)
for k in range(n):
    w.add_scalar("train/learning_rate", 3e-4 * 0.5 * (1 + math.cos(math.pi * k / n)), k)
w.close()
"""

OURS = """
import json, sys, time
t0 = time.perf_counter()
from lrplan import logs
from lrplan.frameworks.base import ReadOptions
from lrplan.runcheck import check
from lrplan.sources import load
plan = load("cosine", opts=ReadOptions(steps="1M", lr=3e-4)).schedule
t1 = time.perf_counter()
s = logs.read(sys.argv[1])
t2 = time.perf_counter()
r = check(s, plan, "cosine")
t3 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "read": t2 - t1, "check": t3 - t2, "points": len(s), "on_plan": r.on_plan}))
"""

FIT = """
import json, sys, time
from lrplan import logs
from lrplan.fit import fit
s = logs.read(sys.argv[1])
t = time.perf_counter()
r = fit(s)
print(json.dumps({"fit": time.perf_counter() - t, "points": len(s), "spec": r.spec, "fits": r.best.fits}))
"""

PEER = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
t1 = time.perf_counter()
acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
ev = acc.Scalars(sys.argv[2])
steps = np.fromiter((e.step for e in ev), dtype=np.int64, count=len(ev))
values = np.fromiter((e.value for e in ev), dtype=float, count=len(ev))
print(json.dumps({"imports": t1 - t0, "load": time.perf_counter() - t1, "points": int(values.size)}))
"""


def events_file(given: str | None = None) -> Path:
    if given:
        return Path(given)
    cache = Path(tempfile.gettempdir()) / "lrplan-bench-logs" / "cosine-1m"
    found = sorted(cache.glob("events.out.tfevents.*")) if cache.is_dir() else []
    if found:
        return found[0]
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    print(f"writing {N:,} scalars with torch's SummaryWriter into {cache} (once; minutes) ...", file=sys.stderr)
    subprocess.run([sys.executable, "-c", WRITER, str(N), str(cache)], check=True)
    return min(cache.glob("events.out.tfevents.*"))


def _measure(cmd: list[str]) -> tuple[float, float, float, dict | None]:
    """(wall s, peak RSS MB, CPU s, the JSON the process printed) of one fresh process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    out = p.stdout.read().decode()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stdout.close()
    p.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):  # lrplan check: 1 = not on plan (which would be a finding, not a crash)
        raise RuntimeError(f"{cmd[:3]} failed ({code}): {err[-800:]}")
    last = out.strip().splitlines()[-1] if out.strip() else ""
    data = json.loads(last) if last.startswith("{") else None
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, data


def _best(cmd: list[str], repeats: int = REPEATS):
    _measure(cmd)  # warm-up: byte-compile and fill the page cache
    runs = [_measure(cmd) for _ in range(repeats)]
    return runs, min(r[0] for r in runs), max(r[1] for r in runs), min(r[2] for r in runs)


def _lrplan_cmd() -> list[str]:
    exe = shutil.which("lrplan")
    return [exe] if exe else [sys.executable, "-m", "lrplan"]


def run(given: str | None = None) -> list[dict]:
    f = events_file(given)
    mb = f.stat().st_size / 1e6
    ours, _, ours_rss, _ = _best([sys.executable, "-c", OURS, str(f)])
    inner = min(r[3]["read"] + r[3]["check"] for r in ours)
    assert all(r[3]["points"] == N and r[3]["on_plan"] for r in ours), ours[0][3]
    _, cli_wall, cli_rss, cli_cpu = _best(_lrplan_cmd() + ["check", str(f), *PLAN, "--no-chart"])
    peer_runs = [_measure([sys.executable, "-c", PEER, str(f), TAG])]  # ~40 s of CPU: once
    peer = peer_runs[0]
    assert peer[3]["points"] == N, peer[3]
    fits, _, fit_rss, _ = _best([sys.executable, "-c", FIT, str(f)])
    fit_s = min(r[3]["fit"] for r in fits)
    assert all(r[3]["fits"] for r in fits), fits[0][3]
    label = f"{N:,}-point TensorBoard file, {mb:.0f} MB"
    peer_name = 'tensorboard EventAccumulator(size_guidance={"scalars": 0}), load only'
    return [
        {"target": f"check: read + compare every point, s ({label}; in-process, after imports)",
         "lrplan": round(inner, 3), "peer": round(peer[3]["load"], 3), "ratio": round(peer[3]["load"] / inner, 1),
         "goal": "lrplan < 2 s", "peer_name": peer_name},
        {"target": f"lrplan check FILE cosine --steps 1M, whole process wall s ({label})", "lrplan": round(cli_wall, 3),
         "peer": round(peer[0], 3), "ratio": round(peer[0] / cli_wall, 1), "goal": "informational",
         "peer_name": "the peer's whole process", "pass": "-"},
        {"target": f"check: whole process CPU s ({label})", "lrplan": round(cli_cpu, 3), "peer": round(peer[2], 3),
         "ratio": round(peer[2] / cli_cpu, 1), "goal": "informational", "peer_name": "the peer's whole process"},
        {"target": f"check: peak RSS MB ({label})", "lrplan": round(max(ours_rss, cli_rss), 1),
         "peer": round(peer[1], 1), "ratio": round(peer[1] / max(ours_rss, cli_rss), 1), "goal": "lrplan < 200 MB",
         "peer_name": peer_name},
        {"target": f"fit {N:,} logged points, s (after the read)", "lrplan": round(fit_s, 3), "peer": "",
         "ratio": "", "goal": "lrplan < 1 s", "peer_name": "", "fit_peak_rss_mb": round(fit_rss, 1),
         "spec": fits[0][3]["spec"]},
    ]


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", help="an existing event file with N points of train/learning_rate (cosine from 3e-4)")
    a = ap.parse_args()
    for row in run(a.events):
        extra = f"  [{row['spec']}, peak RSS {row['fit_peak_rss_mb']} MB]" if "spec" in row else ""
        peer = f"  peer {row['peer']} ({row['peer_name']})  ratio {row['ratio']}x" if row["peer"] != "" else ""
        print(f"{row['target']}: lrplan {row['lrplan']}{peer}  (goal: {row['goal']}){extra}")
