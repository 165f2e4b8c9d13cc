"""Run every benchmark and print one table: target, lrplan, peer, ratio, goal, pass/fail.

    python benchmarks/run.py                      # all of them (the checkpoint one writes 4 GiB to a temp dir)
    python benchmarks/run.py --only cli,eval      # some of them
    python benchmarks/run.py --markdown bench.md  # also write the table (and the machine) as Markdown

Each ``benchmarks/bench_<name>.py`` has ``run() -> list[dict]`` with the keys ``target``, ``lrplan``,
``peer``, ``ratio``, ``goal`` and optionally ``peer_name`` and ``pass``. When ``pass`` is missing it is
read from a goal of the form "lrplan < X" and/or "> Nx" (see ``judge``). These are measurements, not
timed tests: the suite never fails on a slow machine; the README quotes this table and its machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ("cli", "eval", "render", "checkpoint")  # design.md "Targets" order; others follow alphabetically
COLUMNS = ("target", "lrplan", "peer", "ratio", "goal", "pass")
VERSIONS = ("lrplan", "numpy", "typer", "rich", "matplotlib", "plotly", "torch")


def machine() -> list[tuple[str, str]]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for name in VERSIONS:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [("CPU", f"{cpu}, {cores} cores available ({os.cpu_count()} online)"),
            ("OS", f"{platform.system()} {platform.release()} {platform.machine()}"),
            ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
            ("versions", ", ".join(versions))]


def discover(only: set[str] | None) -> list[tuple[str, Path]]:
    found = {p.stem[len("bench_"):]: p for p in HERE.glob("bench_*.py")}
    names = [n for n in ORDER if n in found] + sorted(set(found) - set(ORDER))
    if only:
        unknown = only - set(found)
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have: {', '.join(names)}")
        names = [n for n in names if n in only]
    return [(n, found[n]) for n in names]


MARK = "LRPLAN-BENCH-ROWS "
CHILD = (
    "import importlib.util, json, sys\n"
    "spec = importlib.util.spec_from_file_location('lrplan_bench', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "print(" + repr(MARK) + " + json.dumps(module.run()))\n"
)


def run_isolated(path: Path) -> list[dict]:
    """``run()`` of one benchmark in a fresh interpreter. In-process, an earlier benchmark's imports
    (torch: ~800 MB) would slow later ones down and inflate their children's peak RSS (a forked child
    reports its parent's resident pages in ``ru_maxrss``)."""
    r = subprocess.run([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, text=True)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith(MARK)]
    if r.returncode or not lines:
        raise RuntimeError(f"{path.name} exited with status {r.returncode} (its traceback is above)")
    return json.loads(lines[-1][len(MARK):])


def judge(row: dict) -> str:
    """'pass'/'fail' from the row's own verdict, else from a goal "lrplan < X" / "> Nx"; '-' otherwise."""
    if "pass" in row and isinstance(row["pass"], bool):
        return "pass" if row["pass"] else "fail"
    goal, checks = str(row.get("goal", "")), []
    below = re.search(r"lrplan\s*<\s*([\d.]+)", goal)
    if below and isinstance(row.get("lrplan"), (int, float)):
        checks.append(row["lrplan"] < float(below.group(1)))
    faster = re.search(r">\s*([\d.]+)\s*x", goal)
    if faster and isinstance(row.get("ratio"), (int, float)):
        checks.append(row["ratio"] > float(faster.group(1)))
    if not checks:
        return "-"
    return "pass" if all(checks) else "fail"


def cells(row: dict) -> list[str]:
    peer = str(row.get("peer", ""))
    if row.get("peer_name"):
        peer = f"{peer} ({row['peer_name']})"
    ratio = row.get("ratio", "")
    return [str(row.get("target", "")), str(row.get("lrplan", "")), peer,
            f"{ratio}x" if isinstance(ratio, (int, float)) else str(ratio), str(row.get("goal", "")), judge(row)]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(COLUMNS)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def markdown(rows: list[list[str]], about: list[tuple[str, str]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    out += ["| " + " | ".join(esc(c) for c in r) + " |" for r in rows]
    out += ["", "Machine:", ""] + [f"- {k}: {esc(v)}" for k, v in about]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", help="comma-separated benchmark names (cli, eval, render, checkpoint, ...)")
    ap.add_argument("--markdown", type=Path, help="also write the table as Markdown to this file")
    args = ap.parse_args(argv)
    about = machine()
    for k, v in about:
        print(f"{k}: {v}")
    rows: list[list[str]] = []
    failed = False
    for name, path in discover(set(args.only.split(",")) if args.only else None):
        print(f"running {path.name} ...", file=sys.stderr, flush=True)
        try:
            rows += [cells(r) for r in run_isolated(path)]
        except Exception as e:  # one broken benchmark must not hide the others
            rows.append([f"{path.name}", "error", "", "", f"{type(e).__name__}: {e}"[:120], "fail"])
            failed = True
    print()
    print(text_table(rows))
    if args.markdown:
        args.markdown.write_text(markdown(rows, about), encoding="utf-8")
        print(f"\nwrote {args.markdown}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
