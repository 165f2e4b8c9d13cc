"""Replay the hardening corpus through the installed entry point; one line per case.

    python tests/fuzz/replay.py [-k SUBSTRING]

Reports each case's exit status, wall time and peak RSS (from ``wait4``), and fails (exit 1) on any
internal error (exit 70), traceback, unexpected status, changed input, time-out (60 s) or peak memory
above 500 MB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Case, applies, cases, is_char_device, snapshot

TIMEOUT = 60.0
MAX_RSS_MB = 500


def lrplan_exe() -> str:
    exe = shutil.which("lrplan") or str(Path(sys.executable).with_name("lrplan"))
    return exe


def run(case: Case, d: Path, timeout: float = TIMEOUT) -> dict:
    if case.setup:  # in a child: a setup that imports torch must not inflate the next cases' maxrss
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); import corpus; "
                        "corpus.by_id(sys.argv[2]).setup(__import__('pathlib').Path(sys.argv[3]))",
                        str(Path(__file__).resolve().parent), case.id, str(d)], check=True)
    before = snapshot(d, case.unchanged)
    env = dict(os.environ, COLUMNS="100", NO_COLOR="1")
    if case.shell:
        env["PATH"] = str(Path(lrplan_exe()).parent) + os.pathsep + env.get("PATH", "")
        cmd = ["bash", "-c", case.shell]
    else:
        cmd = [lrplan_exe(), *case.args(d)]
    rss_file = d.parent / f".{d.name}.rss"
    t0 = time.perf_counter()
    # Through a small launcher: a child forked from a big process (pytest with torch loaded) reports that
    # process's resident pages as its own peak RSS (Linux records the old mm's high-water mark at exec);
    # the launcher is a fresh small interpreter, and the maxrss of *its* child is lrplan's alone.
    p = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(rss_file), str(MEMORY_CAP), *cmd],
                         stdin=subprocess.PIPE if case.stdin is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE if not case.shell else subprocess.DEVNULL,
                         stderr=subprocess.PIPE, cwd=d, env=env, start_new_session=True)
    out: list[bytes] = []
    err: list[bytes] = []
    threads = [threading.Thread(target=lambda: err.append(p.stderr.read()))]
    if p.stdout:
        threads.append(threading.Thread(target=lambda: out.append(p.stdout.read())))
    if p.stdin:
        threads.append(threading.Thread(target=_feed, args=(p.stdin, case.stdin)))
    for t in threads:
        t.start()
    killer = threading.Timer(timeout, _kill_group, args=(p.pid,))
    killer.start()
    p.wait()
    timed_out = not killer.is_alive()
    killer.cancel()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    try:
        rss_mb = int(rss_file.read_text()) / 1024
        rss_file.unlink()
    except (OSError, ValueError):
        rss_mb = 0.0
    after = snapshot(d, case.unchanged)
    return {"rc": p.returncode, "stdout": b"".join(out).decode(errors="replace"),
            "stderr": b"".join(err).decode(errors="replace"), "seconds": seconds, "rss_mb": rss_mb,
            "timed_out": timed_out, "changed": [n for n in case.unchanged if before[n] != after[n]]}


LAUNCHER = """
import os, resource, signal, subprocess, sys
rss_file, cap, cmd = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
p = subprocess.Popen(cmd, preexec_fn=limit)
_, status, ru = os.wait4(p.pid, 0)
open(rss_file, "w").write(str(ru.ru_maxrss))
code = os.waitstatus_to_exitcode(status)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _feed(stream, data: bytes) -> None:
    try:
        stream.write(data)
        stream.close()
    except BrokenPipeError:  # lrplan refused before reading all of it
        pass


MEMORY_CAP = 4 << 30  # address space per case: a runaway case fails instead of taking the machine down




def problems(case: Case, r: dict) -> list[str]:
    out = []
    if r["timed_out"]:
        out.append("timed out")
    if r["rc"] == 70 or "internal error" in r["stderr"]:
        out.append("internal error")
    if "Traceback" in r["stderr"]:
        out.append("traceback")
    if r["rc"] not in case.expect and not r["timed_out"]:
        out.append(f"exit {r['rc']}, expected {case.expect}")
    if case.needs and case.needs.lower() not in r["stderr"].lower():
        out.append(f"message lacks {case.needs!r}")
    if r["changed"]:
        out.append(f"input changed: {r['changed']}")
    if r["rss_mb"] > MAX_RSS_MB:
        out.append(f"peak RSS {r['rss_mb']:.0f} MB")
    if "\x1b" in r["stderr"]:
        out.append("terminal escape echoed")
    if case.id in ("o-dev-null",) and not is_char_device("/dev/null"):
        out.append("/dev/null replaced")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="only cases whose id contains this")
    ap.add_argument("-v", "--verbose", action="store_true", help="show the stderr of failing cases")
    args = ap.parse_args()
    bad = 0
    for case in cases():
        if args.k not in case.id or not applies(case):
            continue
        with tempfile.TemporaryDirectory() as tmp:
            r = run(case, Path(tmp))
        p = problems(case, r)
        bad += bool(p)
        first = (r["stderr"].strip().splitlines() or [""])[0][:90]
        print(f"{'FAIL' if p else 'ok  '} {case.id:40s} rc={r['rc']:<4} {r['seconds']:6.2f}s "
              f"{r['rss_mb']:6.0f}MB  {'; '.join(p) or first}", flush=True)
        if p and args.verbose:
            print("     | " + r["stderr"].strip().replace("\n", "\n     | ")[:1500])
    print(f"{bad} failing case(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
