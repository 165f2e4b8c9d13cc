"""Benchmark: ``lrplan at-step 53210 "warmup=2000,cosine,min=0.1" --steps 100k`` against
``python -c "import typer"``, both as fresh processes in the same run (design.md target: <= 1.5x).

lrplan is installed NON-editable into a temporary directory (``pip install --no-deps --target``):
an editable install with ``PYTHONDONTWRITEBYTECODE=1`` recompiles the package on every run and would
measure the compiler. A separate run checks that torch, matplotlib and plotly are never imported.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 15
ARGS = ["at-step", "53210", "warmup=2000,cosine,min=0.1", "--steps", "100k"]
HEAVY = ("torch", "matplotlib", "plotly")
CHECK = (
    "import atexit, sys\n"
    "atexit.register(lambda: print('HEAVY=' + ','.join(m for m in {heavy!r} if m in sys.modules), file=sys.stderr))\n"
    "sys.argv = ['lrplan'] + {args!r}\n"
    "from lrplan.cli import main\n"
    "main()\n"
)


def install(target: Path) -> None:
    """A regular (wheel) install of the working tree into ``target``, byte-compiled by pip."""
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                        "--target", str(target), str(ROOT)], capture_output=True, text=True,
                       env=dict(os.environ, PIP_ROOT_USER_ACTION="ignore"))
    if r.returncode:
        raise RuntimeError(f"pip install --target failed: {r.stderr[-1000:]}")


def wall(cmd: list[str], env: dict, cwd: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    return time.perf_counter() - t0


def run() -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="lrplan-bench-cli-"))
    try:
        site = tmp / "site"
        install(site)
        env = dict(os.environ, PYTHONPATH=str(site))
        ours = [sys.executable, "-m", "lrplan", *ARGS]
        peer = [sys.executable, "-c", "import typer"]
        # cwd is the temporary directory: from the repository, python would import its working tree
        wall(ours, env, tmp), wall(peer, env, tmp)  # warm the page cache
        t_ours, t_peer = [], []
        for _ in range(REPEATS):  # interleaved, so a busy moment hits both
            t_ours.append(wall(ours, env, tmp))
            t_peer.append(wall(peer, env, tmp))
        probe = subprocess.run([sys.executable, "-c", CHECK.format(heavy=HEAVY, args=ARGS)], env=env,
                               capture_output=True, text=True, check=True, cwd=tmp)
        heavy = probe.stderr.rsplit("HEAVY=", 1)[-1].strip()
        where = subprocess.run([sys.executable, "-c", "import lrplan; print(lrplan.__file__)"], env=env,
                               capture_output=True, text=True, check=True, cwd=tmp).stdout.strip()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not where.startswith(str(site)):
        raise RuntimeError(f"the benchmark ran the wrong lrplan: {where}")
    a, b = statistics.median(t_ours), statistics.median(t_peer)
    return [
        {"target": "at-step wall s (median of 15, non-editable install)", "lrplan": round(a, 3),
         "peer": round(b, 3), "peer_name": 'python -c "import typer"', "ratio": round(a / b, 2),
         "goal": "<= 1.5x the peer", "pass": a / b <= 1.5},
        {"target": "at-step imports torch / matplotlib / plotly", "lrplan": heavy or "none", "peer": "",
         "peer_name": "", "ratio": "", "goal": "none of them", "pass": not heavy},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
