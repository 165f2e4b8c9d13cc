"""Logged LR series of real runs: which log a path is, and its reader.

A log is a SOURCE of another kind: not a schedule but the LRs a run used, at the steps it logged them.
:func:`detect` says which kinds a path holds (best first), :func:`read` returns a :class:`LogSeries` in
lrplan's step convention. Readers (one module each, stdlib + numpy, nothing from the log is executed):

=================  ==========================================================================
``tensorboard``    event files and run directories (:mod:`.tensorboard`, hand-read TFRecord + protobuf)
``wandb``          offline runs, ``run-*.wandb`` (:mod:`.wandb`)
``wandb-csv``      a CSV exported from a W&B panel (:mod:`.wandb_csv`)
``mlflow``         the file store ``mlruns/`` and the SQLite store ``mlflow.db`` (:mod:`.mlflow`)
``hf``             ``trainer_state.json`` ``log_history`` (:mod:`.hf`)
``lightning``      ``CSVLogger`` ``metrics.csv`` and other step/LR CSVs (:mod:`.csvlog`)
``megatron``       Megatron-LM training stdout (:mod:`.textlog`)
``deepspeed``      DeepSpeed engine stdout (:mod:`.textlog`)
=================  ==========================================================================

The step rules (which update's LR each logger writes under which step) are in :mod:`.rules`.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import LrplanError, did_you_mean
from .series import LogOptions, LogSeries

KINDS: dict[str, tuple[str, str]] = {
    "tensorboard": ("lrplan.logs.tensorboard", "read"),
    "wandb": ("lrplan.logs.wandb", "read"),
    "wandb-csv": ("lrplan.logs.wandb_csv", "read"),
    "mlflow": ("lrplan.logs", "_read_mlflow"),
    "hf": ("lrplan.logs.hf", "read"),
    "lightning": ("lrplan.logs.csvlog", "read"),
    "megatron": ("lrplan.logs.textlog", "read_megatron"),
    "deepspeed": ("lrplan.logs.textlog", "read_deepspeed"),
}
WHAT = ("a training log: TensorBoard event files or run directory, a W&B offline run (run-*.wandb) or panel CSV, "
        "an MLflow mlruns/ or mlflow.db, HF trainer_state.json, Lightning metrics.csv, or Megatron-LM / "
        "DeepSpeed stdout")
SNIFF_BYTES = 4 * 1024 * 1024
TEXT_SUFFIXES = ("", ".log", ".txt", ".out", ".err", ".stdout", ".stderr", ".csv", ".json")


def kind_of_from(fmt: str | None) -> tuple[bool, str | None]:
    """``--from log`` / ``--from log:KIND``: (is a log, kind or None for 'detect it')."""
    if fmt is None or not (fmt == "log" or fmt.startswith("log:")):
        return False, None
    kind = fmt[4:] or None
    if kind is not None and kind not in KINDS:
        raise LrplanError(f"unknown log kind {kind!r} for --from log:KIND",
                          hint=did_you_mean(kind, list(KINDS), noun="kind"))
    return True, kind


def _head(path: Path, n: int) -> bytes:
    import os

    from ..fileio import open_regular

    try:
        fd = open_regular(path, "log")
    except LrplanError:
        return b""
    with os.fdopen(fd, "rb") as f:
        return f.read(n)


def detect(path: Path) -> list[str]:
    """The log kinds ``path`` holds, most useful first ([] when it is no log lrplan reads)."""
    path = Path(path)
    if path.is_dir():
        return _detect_dir(path)
    if not path.is_file():
        return []
    head = _head(path, 64 * 1024)
    from .mlflow import SQLITE_MAGIC, looks_like_metric_file
    from .tensorboard import looks_like_events
    from .wandb import looks_like_wandb

    if looks_like_events(head[:13]):
        return ["tensorboard"]
    if looks_like_wandb(head):
        return ["wandb"]
    if head.startswith(SQLITE_MAGIC):
        return ["mlflow"] if b"metrics" in _head(path, 1 << 20) else []
    if path.suffix.lower() not in TEXT_SUFFIXES:
        return []
    text = head.decode("utf-8", errors="replace")
    from .csvlog import looks_like_csv
    from .hf import looks_like_state
    from .wandb_csv import looks_like_export

    if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
        return ["hf"] if looks_like_state(text) else []
    if looks_like_export(text):
        return ["wandb-csv"]
    if looks_like_csv(text):
        return ["lightning"]
    if looks_like_metric_file(path) and _mlflow_lines(text):
        return ["mlflow"]
    from .textlog import sniff

    found = sniff(_head(path, SNIFF_BYTES).decode("utf-8", errors="replace"))
    return [found] if found else []


def _mlflow_lines(text: str) -> bool:
    line = text.split("\n", 1)[0].split()
    try:
        return len(line) in (2, 3, 5) and bool(int(line[0])) and float(line[1]) == float(line[1])
    except (ValueError, IndexError):
        return False


def _detect_dir(path: Path) -> list[str]:
    from .csvlog import csv_files
    from .hf import state_file
    from .mlflow import is_file_store
    from .tensorboard import has_events
    from .wandb import run_files

    found = []
    if (path / "trainer_state.json").is_file():
        found.append("hf")
    if has_events(path):
        found.append("tensorboard")
    if run_files(path):
        found.append("wandb")
    if csv_files(path):
        found.append("lightning")
    if is_file_store(path) or (path / "mlflow.db").is_file():
        found.append("mlflow")
    if "hf" not in found and state_file(path) is not None:
        found.append("hf")
    return found


def is_log(path: Path) -> bool:
    return bool(detect(path))


def read(path, *, kind: str | None = None, opts: LogOptions | None = None) -> LogSeries:
    """The LR series of the log at ``path`` (``kind`` forces the reader; else the first kind detected)."""
    opts = opts or LogOptions()
    path = Path(path).expanduser()
    if not path.exists():
        raise LrplanError(f"no such file or directory: {path}", hint="the first argument is " + WHAT)
    found = detect(path)
    if kind is None:
        if not found:
            raise LrplanError(f"{path} is not a training log lrplan reads", hint="expected " + WHAT)
        kind = found[0]
    series = _reader(kind)(path, opts)
    others = [k for k in found if k != kind]
    if others:
        series.notes.append(f"{path} also holds a {', '.join(others)} log (--from log:KIND reads another)")
    return series


def _reader(kind: str):
    if kind not in KINDS:
        raise LrplanError(f"unknown log kind {kind!r}", hint=did_you_mean(kind, list(KINDS), noun="kind"))
    module, name = KINDS[kind]
    return getattr(importlib.import_module(module), name)


def _read_mlflow(path: Path, opts: LogOptions) -> LogSeries:
    from . import mlflow

    if path.is_dir() and not mlflow.is_file_store(path) and (path / "mlflow.db").is_file():
        path = path / "mlflow.db"
    if path.is_file() and _head(path, 16).startswith(mlflow.SQLITE_MAGIC):
        return mlflow.read_sqlite(path, opts)
    return mlflow.read_file_store(path, opts)
