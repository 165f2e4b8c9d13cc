"""Benchmark: ``lrplan at-step`` on a 4 GiB checkpoint vs ``torch.load(mmap=True, weights_only=True)``.

Writes a Megatron-style legacy checkpoint (``iter_0000100/mp_rank_00/model_optim_rng.pt``: args
Namespace, iteration, opt_param_scheduler, optimizer param groups, and 4 GiB of model tensors) into a
temporary directory, then times each side in a fresh process and reads that process's peak RSS with
``os.wait4``. The directory is deleted afterwards. Needs torch (to write the file and for the peer).

``run()`` returns rows {"target", "lrplan", "peer", "ratio", "goal"} for the lead's runner;
``python benchmarks/bench_checkpoint.py`` prints them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SIZE_GIB = 4
TENSORS = 64
REPEATS = 3
# Bytecode caching on, as in a regular install (an editable install with PYTHONDONTWRITEBYTECODE=1
# recompiles lrplan on every run and measures the compiler, not lrplan).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

WRITER = """
import argparse, sys, torch
from pathlib import Path
out = Path(sys.argv[1]); gib = int(sys.argv[2]); n = int(sys.argv[3])
G = 8
args = argparse.Namespace(lr=3e-4, min_lr=3e-5, lr_decay_style="cosine", lr_warmup_iters=20, lr_decay_iters=1000,
    train_iters=1000, global_batch_size=G, micro_batch_size=1, seq_length=2048, lr_warmup_init=0.0,
    consumed_train_samples=100 * G, skipped_train_samples=0, params_dtype=torch.bfloat16)
per = gib * (1 << 30) // n // 4
# torch.empty: pages never touched, so writing them costs no RSS (they read as zeros)
model = {f"layers.{i}.weight": torch.empty(per, dtype=torch.float32) for i in range(n)}
sched = {"max_lr": 3e-4, "lr_warmup_steps": 20 * G, "num_steps": 100 * G, "lr_decay_style": "cosine",
         "lr_decay_steps": 1000 * G, "min_lr": 3e-5, "start_wd": 0.01, "end_wd": 0.01, "wd_incr_style": "constant",
         "wd_incr_steps": 1000 * G}
import math
r = (100 * G - 20 * G) / (1000 * G - 20 * G)  # Megatron cosine progress at the saved position
lr_now = 3e-5 + (3e-4 - 3e-5) * 0.5 * (math.cos(math.pi * r) + 1.0)
groups = [{"lr": lr_now, "max_lr": 3e-4, "min_lr": 3e-5, "default_config": True, "params": list(range(n))}]
d = out / "iter_0000100" / "mp_rank_00"
d.mkdir(parents=True)
torch.save({"args": args, "iteration": 100, "checkpoint_version": 3.0, "model": model,
            "opt_param_scheduler": sched, "optimizer": {"state": {}, "param_groups": groups}}, d / "model_optim_rng.pt")
(out / "latest_checkpointed_iteration.txt").write_text("100")
"""

PEER = """
import argparse, sys, torch
with torch.serialization.safe_globals([argparse.Namespace]):
    sd = torch.load(sys.argv[1], mmap=True, weights_only=True)
print(sd["opt_param_scheduler"]["num_steps"])
"""


def _measure(cmd: list[str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS MB, CPU seconds) of one fresh process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if p.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({p.returncode}): {err[-500:]}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # Linux: ru_maxrss in kilobytes


def _best(cmd: list[str]) -> tuple[float, float, float]:
    _measure(cmd)  # warm-up: byte-compile and fill the page cache, as on any second run
    runs = [_measure(cmd) for _ in range(REPEATS)]
    return min(r[0] for r in runs), max(r[1] for r in runs), min(r[2] for r in runs)


def _lrplan_cmd() -> list[str]:
    exe = shutil.which("lrplan")
    return [exe] if exe else [sys.executable, "-m", "lrplan"]


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="lrplan-bench-"))
    try:
        subprocess.run([sys.executable, "-c", WRITER, str(tmp / "run"), str(SIZE_GIB), str(TENSORS)], check=True)
        f = tmp / "run" / "iter_0000100" / "mp_rank_00" / "model_optim_rng.pt"
        size_gib = f.stat().st_size / (1 << 30)
        ours = _best(_lrplan_cmd() + ["at-step", "500", str(tmp / "run"), "--json"])
        peer = _best([sys.executable, "-c", PEER, str(f)])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    label = f"{size_gib:.1f} GiB Megatron checkpoint"
    rows = [
        {"target": f"at-step wall s ({label})", "lrplan": round(ours[0], 3), "peer": round(peer[0], 3),
         "ratio": round(peer[0] / ours[0], 1), "goal": "lrplan < 0.4 s and > 5x faster than torch.load(mmap=True)"},
        {"target": f"at-step peak RSS MB ({label})", "lrplan": round(ours[1], 1), "peer": round(peer[1], 1),
         "ratio": round(peer[1] / ours[1], 1), "goal": "lrplan < 80 MB"},
        {"target": f"at-step CPU s ({label}; wall minus waiting on a busy machine)", "lrplan": round(ours[2], 3),
         "peer": round(peer[2], 3), "ratio": round(peer[2] / ours[2], 1), "goal": "informational"},
    ]
    for row in rows:
        row["peer_name"] = "torch.load(mmap=True, weights_only=True)"
    return rows


if __name__ == "__main__":
    for row in run():
        print(f"{row['target']}: lrplan {row['lrplan']}  torch.load {row['peer']}  ratio {row['ratio']}x  "
              f"(goal: {row['goal']})")
