"""Shared test helpers.

``require(module)`` imports a reference framework for a differential test. On CI (``CI`` set) a
missing framework is a failure, never a silent skip; on a developer machine it skips.

``assert_lr_close(ours, theirs)`` is design.md's exactness contract: relative error <= 1e-12,
or absolute error <= 1e-18 where the reference LR is 0 (or so close to 0 that its own last-bit
rounding dominates).
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

REL = 1e-12
ABS = 1e-18


def require(module: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is needed for this differential test and is not installed: {e}")
        pytest.skip(f"{module} not installed")


def assert_lr_close(ours, theirs, *, rel: float = REL, abs_: float = ABS, steps=None, what: str = "lr"):
    ours = np.asarray(ours, dtype=float)
    theirs = np.asarray(theirs, dtype=float)
    assert ours.shape == theirs.shape, f"{what}: {ours.shape} vs {theirs.shape}"
    err = np.abs(ours - theirs)
    bad = err > np.maximum(rel * np.abs(theirs), abs_)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        k = i if steps is None else int(np.asarray(steps)[i])
        raise AssertionError(
            f"{what} differs at step {k}: ours {ours[i]!r}, reference {theirs[i]!r}, "
            f"|diff| {err[i]:.3e} ({int(bad.sum())} of {bad.size} steps differ)"
        )


def stepped_lrs(opt, scheduler, n: int) -> np.ndarray:
    """The LR each of the first ``n`` updates uses: read the optimizer's first group, step the optimizer,
    then the real scheduler, as every torch-based training loop does."""
    out = np.empty(n)
    for k in range(n):
        out[k] = opt.param_groups[0]["lr"]
        opt.step()
        scheduler.step()
    return out


def run_cli(*args: str, input: str | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``lrplan`` entry point (falls back to ``python -m lrplan``)."""
    exe = shutil.which("lrplan")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "lrplan", *args]
    full_env = dict(os.environ, COLUMNS="100", **(env or {}))
    full_env.pop("LRPLAN_TRACEBACK", None)
    return subprocess.run(cmd, capture_output=True, text=True, input=input, env=full_env, timeout=300)


# DeepSpeed's CPU engine JIT-compiles its deepspeed_shm_comm op on the first deepspeed.initialize (40 s to
# over 8 minutes on 2 busy cores), and a build killed by a test's timeout leaves a `lock` behind that makes
# every later DeepSpeed start wait for ever. So the suite gives torch's extension builds a directory of its
# own (never the user's ~/.cache/torch_extensions), and `deepspeed_ops` builds the op once, untimed, before
# any timed engine subprocess; a lock left by an earlier killed session is removed first.
DEEPSPEED_BUILD = """
from deepspeed.accelerator import get_accelerator
builder = get_accelerator().create_op_builder("ShareMemCommBuilder")
if builder is not None:
    builder.load()
print("built" if builder is not None else "no op to build")
"""


def pytest_configure(config):
    if not os.environ.get("TORCH_EXTENSIONS_DIR"):
        if getattr(config, "cache", None) is not None:
            root = config.cache.mkdir("torch_extensions")
        else:  # -p no:cacheprovider
            import tempfile
            from pathlib import Path

            root = Path(tempfile.gettempdir()) / f"lrplan-tests-{os.getuid()}" / "torch_extensions"
            root.mkdir(parents=True, exist_ok=True)
        os.environ["TORCH_EXTENSIONS_DIR"] = str(root)


@pytest.fixture(scope="session")
def deepspeed_ops():
    """DeepSpeed's JIT-compiled CPU op, built once for the whole session (tests that start an engine use it)."""
    from pathlib import Path

    require("deepspeed")
    root = Path(os.environ["TORCH_EXTENSIONS_DIR"])
    for lock in root.glob("**/lock"):
        lock.unlink()  # this directory is the suite's own: a lock here is from a session that was killed
    env = dict(os.environ, DS_ACCELERATOR="cpu")
    r = subprocess.run([sys.executable, "-c", DEEPSPEED_BUILD], capture_output=True, text=True, env=env)
    assert r.returncode == 0, f"building DeepSpeed's CPU op failed:\n{r.stderr[-3000:]}"
    return root


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true", default=False,
                     help="Rewrite golden files under tests/golden/ instead of comparing (review the diff).")


@pytest.fixture
def golden(request):
    """``golden(relpath, text)``: compare ``text`` with tests/golden/<relpath>, or rewrite it with --regen-golden."""
    from pathlib import Path

    root = Path(__file__).parent / "golden"
    regen = request.config.getoption("--regen-golden")

    def check(relpath: str, text: str) -> None:
        path = root / relpath
        if regen:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            return
        assert path.exists(), f"missing golden file {relpath}: run pytest --regen-golden and review the diff"
        assert text == path.read_text(encoding="utf-8"), f"{relpath} differs from its golden file"

    return check
