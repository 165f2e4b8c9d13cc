"""A small mutation check: plant one realistic bug at a time and see whether the tests notice.

    python scripts/mutate.py            # every mutant (a few minutes per mutant on 2 cores)
    python scripts/mutate.py -k cosine  # the mutants whose id contains "cosine"
    python scripts/mutate.py --list     # ids and the tests each one runs

Each mutant is (id, file, the exact text it replaces, the replacement, the tests that should catch it).
The repository is copied to a temporary directory once; each mutant is applied there, the named tests run
against the copy (``PYTHONPATH`` puts the copy first, so the installed entry point runs the mutant too),
and the file is restored. A mutant is *killed* when the tests fail, *survives* when they pass, *stale*
when its text is no longer in the file (update the list). Not part of CI: docs/testing.md lists the score.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]
    why: str = ""


M = Mutant
MUTANTS = [
    # ---- maths: shapes, evaluation, quantities ----
    M("cosine-period", "lrplan/shapes.py", "ops.cos(ops.pi * cycles * 2.0 * p)", "ops.cos(ops.pi * cycles * 1.0 * p)",
      ("tests/test_shapes.py", "tests/frameworks/test_hf.py")),
    M("cosine-rising-branch", "lrplan/shapes.py", "g = 0.5 * (ops.cos(ops.pi * (1.0 - p)) + 1.0)",
      "g = 0.5 * (ops.cos(ops.pi * (1.0 - p)) + 1.0000001)", ("tests/test_shapes.py",)),
    M("sqrt-decay", "lrplan/shapes.py", "        s = ops.sqrt(p)\n", "        s = p\n", ("tests/test_shapes.py",)),
    M("wsd-exponential", "lrplan/shapes.py", "return _mix(a, b, 2.0 * h - 1.0, 2.0 - 2.0 * h, ops)",
      "return _mix(a, b, h, 1.0 - h, ops)", ("tests/test_shapes.py", "tests/frameworks/test_megatron.py")),
    M("ds-log-warmup", "lrplan/shapes.py", "g = ops.log(tau + 1.0) * (1.0 / math.log(span))",
      "g = ops.log(tau + 1.0) * (1.0 / math.log(span + 1.0))", ("tests/frameworks/test_deepspeed.py",)),
    M("poly-power", "lrplan/shapes.py", 'c = ops.power(ops.maximum(span - tau, 0.0) / span, P["power"])',
      'c = ops.power(ops.maximum(span - tau, 0.0) / span, P["power"] * 1.0 + 0.0 if P["power"] == 1.0 else 1.0)',
      ("tests/test_shapes.py", "tests/frameworks/test_hf.py")),
    M("percent-of-total", "lrplan/quantity.py", "return float(Fraction(total) * self.value / 100)",
      "return float(Fraction(total) * self.value / 100 + 1)", ("tests/test_spec.py",)),
    M("suffix-k-1024", "lrplan/quantity.py", '"k": 10**3, "K": 10**3', '"k": 1024, "K": 10**3', ("tests/test_spec.py",)),
    M("range-check-off", "lrplan/quantity.py", "    if value > _MAX:\n", "    if False:\n",
      ("tests/test_fuzz.py",)),
    M("phase-at-bisect-left", "lrplan/keypoints.py", "i = bisect.bisect_right(starts, x) - 1",
      "i = bisect.bisect_left(starts, x) - 1", ("tests/test_cli.py", "tests/test_explain.py")),
    # ---- readers ----
    M("megatron-sample-iterations-ceil", "lrplan/frameworks/megatron/read.py", "n = train_samples // batch.size",
      "n = -(-train_samples // batch.size)", ("tests/frameworks/test_megatron.py",)),
    M("megatron-past-d", "lrplan/frameworks/megatron/build.py", "past_d = float(math.floor(D) + 1)",
      "past_d = float(math.floor(D))", ("tests/frameworks/test_megatron.py",)),
    M("torchtitan-decay-round", "lrplan/frameworks/torchtitan.py", "D = T - W if ratio is None else round(T * ratio)",
      "D = T - W if ratio is None else int(T * ratio)", ("tests/frameworks/test_torchtitan.py",)),
    M("torchtitan-warmup-clip", "lrplan/frameworks/torchtitan.py", "    if W > T:\n", "    if W > T + 1:\n",
      ("tests/frameworks/test_torchtitan.py",)),
    M("ds-cycle-floor", "lrplan/frameworks/deepspeed/curves.py", "cycle = math.floor(1 + t / total)",
      "cycle = math.floor(t / total)", ("tests/frameworks/test_deepspeed.py",)),
    M("ds-range-test-count", "lrplan/frameworks/deepspeed/curves.py", "count = int(math.ceil(total / step_size)) + 1",
      "count = int(math.ceil(total / step_size))", ("tests/frameworks/test_deepspeed.py",)),
    # ---- writers ----
    M("megatron-writer-floor-start", "lrplan/frameworks/megatron/write.py",
      "D = (math.ceil(rest[0].start / scale) - 1) if rest else (head.end or 0) / scale",
      "D = (math.ceil(rest[0].start / scale)) if rest else (head.end or 0) / scale",
      ("tests/frameworks/test_megatron.py", "tests/test_contract.py")),
    M("megatron-writer-d", "lrplan/frameworks/megatron/write.py", 'D = T if p["W"] < T else math.floor(p["W"]) + 1',
      'D = T if p["W"] < T else math.floor(p["W"])', ("tests/frameworks/test_megatron.py", "tests/test_contract.py")),
    M("gate-tolerance", "lrplan/exact.py", "\nREL = 1e-12", "\nREL = 1e-3", ("tests/test_exact.py", "tests/test_contract.py")),
    # ---- checkpoints, resume, files ----
    M("confine-off", "lrplan/checkpoints/locate.py", "    if real != real_root and real_root not in real.parents:\n",
      "    if False:\n", ("tests/test_fuzz.py", "tests/checkpoints/test_safety.py")),
    M("not-input-dir", "lrplan/fileio.py", "            if real == root or root in real.parents:\n",
      "            if real == root:\n", ("tests/test_fuzz.py", "tests/test_cli.py")),
    M("write-through-off", "lrplan/fileio.py",
      "    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode) or stat.S_ISBLK(st.st_mode)):",
      "    if False:", ("tests/test_fuzz.py",)),
    M("fifo-read", "lrplan/fileio.py", "    if not stat.S_ISREG(mode):\n        os.close(fd)\n",
      "    if stat.S_ISDIR(mode):\n        os.close(fd)\n", ("tests/test_fuzz.py",)),
    M("yaml-budget", "lrplan/yamlsafe.py", "            if total > MAX_NODES:", "            if total > MAX_NODES ** 3:",
      ("tests/test_fuzz.py",)),
    M("escape-off", "lrplan/errors.py", "    if text.isprintable():\n        return text\n",
      "    if True:\n        return text\n", ("tests/test_fuzz.py",)),
    M("plateau-plan", "lrplan/checkpoints/__init__.py", '    if plan is not None and info.state.get("metric_driven"):',
      "    if False:", ("tests/checkpoints/test_metric_driven.py",)),
    M("closed-pipe-status", "lrplan/errors.py", "CLOSED_PIPE = 141", "CLOSED_PIPE = 1", ("tests/test_fuzz.py",)),
    M("diff-companions-ignored", "lrplan/diff.py",
      "        return self.differing == 0 and all(c[\"equal\"] for c in self.companions)",
      "        return self.differing == 0", ("tests/test_diff.py",)),
    M("past-end-step-name", "lrplan/keypoints.py", "    if n is not None and k >= n:\n", "    if n is not None and k > n:\n",
      ("tests/test_cli_options.py",)),
    M("spec-depth", "lrplan/spec/syntax.py", "            if self.depth > MAX_DEPTH:", "            if self.depth > 10**9:",
      ("tests/test_fuzz.py",)),
    M("steps-2-53", "lrplan/quantity.py", "    if n > MAX_STEPS:\n", "    if n > MAX_STEPS * 1e9:\n",
      ("tests/test_fuzz.py",)),
    M("safepickle-regular-only", "lrplan/checkpoints/safepickle.py",
      'fd = fileio.open_regular(inside(Path(path)), "checkpoint")',
      'fd = os.open(path, os.O_RDONLY)', ("tests/test_fuzz.py",)),
]


def copy_repo(dst: Path) -> None:
    def ignore(d, names):
        skip = {".git", "build", ".pytest_cache", ".ruff_cache", ".hypothesis", ".benchmarks", "__pycache__",
                "lrplan.egg-info"}
        return [n for n in names if n in skip]

    shutil.copytree(ROOT, dst, ignore=ignore, dirs_exist_ok=True)


def run_one(m: Mutant, repo: Path, timeout: float) -> tuple[str, float]:
    path = repo / m.file
    text = path.read_text(encoding="utf-8")
    if text.count(m.old) != 1:
        return "stale", 0.0
    path.write_text(text.replace(m.old, m.new), encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONDONTWRITEBYTECODE="1")
    t0 = time.perf_counter()
    try:
        r = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *m.tests],
                           cwd=repo, env=env, capture_output=True, text=True, timeout=timeout)
        status = "killed" if r.returncode != 0 else "survived"
    except subprocess.TimeoutExpired:
        status = "killed (time-out)"
    finally:
        path.write_text(text, encoding="utf-8")
        _restore_devices()
    return status, time.perf_counter() - t0


DEVICES = {"/dev/null": (1, 3), "/dev/full": (1, 7)}


def _restore_devices() -> None:
    """A mutant of the output code (write-through-off) replaces the device nodes the corpus writes to,
    as root: put them back, so that one mutant cannot break the machine for the next."""
    import stat

    for dev, (major, minor) in DEVICES.items():
        try:
            if stat.S_ISCHR(os.lstat(dev).st_mode):
                continue
            os.unlink(dev)
        except FileNotFoundError:
            pass
        os.mknod(dev, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(dev, 0o666)
        print(f"  (restored {dev}, which the mutant replaced)", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only mutants whose id contains this")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--timeout", type=float, default=1200.0, help="seconds per mutant")
    args = ap.parse_args()
    chosen = [m for m in MUTANTS if args.k in m.id]
    if args.list:
        for m in chosen:
            print(f"{m.id:34s} {m.file:45s} {' '.join(m.tests)}")
        return 0
    with tempfile.TemporaryDirectory(prefix="lrplan-mutate-") as tmp:
        repo = Path(tmp) / "repo"
        copy_repo(repo)
        results = []
        for m in chosen:
            status, secs = run_one(m, repo, args.timeout)
            results.append((m, status))
            print(f"{status:18s} {m.id:34s} {secs:6.0f}s", flush=True)
    killed = sum(s.startswith("killed") for _, s in results)
    scored = sum(s != "stale" for _, s in results)
    print(f"\nscore: {killed} of {scored} killed" + (f" ({len(results) - scored} stale)" if scored < len(results) else ""))
    for m, s in results:
        if s in ("survived", "stale"):
            print(f"  {s}: {m.id} ({m.file})")
    return 0 if killed == scored else 1


if __name__ == "__main__":
    sys.exit(main())
