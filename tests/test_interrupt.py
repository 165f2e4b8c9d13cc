"""SIGTERM and SIGINT during a write: the target is untouched and no temporary file is left beside it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

WRITER = """
import sys
from pathlib import Path
from lrplan import fileio
blob = b"x" * (192 << 20)   # large enough that the write is still going when the signal comes
try:
    fileio.write_atomic(Path(sys.argv[1]), blob)
except SystemExit as e:
    sys.exit(e.code)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_signal_during_write_leaves_no_temporary_file(tmp_path, sig, code):
    target = tmp_path / "out.html"
    target.write_text("the previous output\n")
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(target)])
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob(".out.html.*")):  # the temporary file exists: the write is under way
        assert p.poll() is None and time.monotonic() < deadline, "the write ended before it could be signalled"
        time.sleep(0.001)
    p.send_signal(sig)
    assert p.wait(timeout=60) == code
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.html"]
    assert target.read_text() == "the previous output\n"
