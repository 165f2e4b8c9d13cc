"""MLflow runs, read without mlflow: the file store (``mlruns/<experiment>/<run>/metrics/<key>``) and the
SQLite store (``mlflow.db``, the default since MLflow 3.7).

File store (mlflow 3.17.2 ``store/tracking/file_store.py`` l. 1091-1101): one line per point,
``<timestamp_ms> <value> <step>`` (``str(float)``: exact), or 5 fields with a dataset name and digest; a key
with ``/`` is a nested path. It is in maintenance mode: 3.13+ refuses to write it unless
``MLFLOW_ALLOW_FILE_STORE=true`` (l. 224-235). SQLite store: table ``metrics(key, value, timestamp, run_uuid,
step, is_nan)``, ``value`` a REAL (float64), opened read-only with the stdlib ``sqlite3``; ``params`` has the
run's parameters (HF's MLflowCallback logs ``transformers_version`` and ``deepspeed`` there,
integrations/integration_utils.py 5.24.0 l. 1416-1438, with the raw keys: ``learning_rate``, no prefix).
A path with several runs reads the one that started last, and says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import LrplanError
from ..fileio import read_text
from . import rules
from .series import EXACT, LogOptions, LogSeries, build, pick_tag

SQLITE_MAGIC = b"SQLite format 3\x00"
MAX_BYTES = 4 * 1024**3
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def looks_like_metric_file(path: Path) -> bool:
    return "metrics" in path.parts[:-1] and path.is_file()


def _meta(d: Path) -> dict:
    """``key: value`` lines of a run's meta.yaml (only the plain scalars lrplan needs; nothing evaluated)."""
    f = d / "meta.yaml"
    out: dict = {}
    if not f.is_file():
        return out
    for line in read_text(f, what="MLflow meta.yaml", limit=1 << 20).splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith(" "):
            out[key.strip()] = value.strip().strip("'\"")
    return out


def _runs(path: Path) -> list[Path]:
    """Run directories at or under ``path`` (mlruns root, experiment directory, or a run directory)."""
    if (path / "metrics").is_dir():
        return [path]
    found = [p.parent for depth in range(4) for p in path.glob("/".join(["*"] * depth + ["metrics"]))
             if p.is_dir() and (p.parent / "meta.yaml").is_file()]
    return sorted(set(found))


def is_file_store(path: Path) -> bool:
    return path.is_dir() and bool(_runs(path))


def _latest(runs: list[Path], notes: list[str]) -> Path:
    if len(runs) == 1:
        return runs[0]

    def started(d: Path) -> int:
        try:
            return int(_meta(d).get("start_time", 0))
        except ValueError:
            return 0

    best = max(runs, key=started)
    notes.append(f"{len(runs)} MLflow runs here: read {best.name} ({_meta(best).get('run_name', '')}), the latest "
                 "started; pass its directory to read another")
    return best


def _params(d: Path) -> dict:
    out = {}
    for key in ("transformers_version", "deepspeed", "lr_scheduler_type"):
        f = d / "params" / key
        if f.is_file():
            out[key] = read_text(f, what="MLflow param", limit=1 << 16).strip()
    return out


# What HF's MLflowCallback logs every logging step (raw Trainer.log keys, no prefix; integration_utils.py
# 5.24.0 l. 1416-1438): a run with these metrics and no params (params logged elsewhere, or a copy of the
# metrics/ directory alone) is still an HF run.
HF_KEYS = {"learning_rate", "epoch", "grad_norm"}


def _rule(params: dict, opts: LogOptions, tag: str, keys=()):
    hf_keys = tag == "learning_rate" and HF_KEYS <= set(keys)
    if "lr_scheduler_type" in params or "transformers_version" in params or hf_keys:
        ds = params.get("deepspeed") not in (None, "", "None", "null")
        offset, rule, notes = rules.hf(params.get("transformers_version"), ds, opts)
        return offset, rule, notes, "hf"
    if tag.startswith("lr-"):
        return 0, rules.LIGHTNING, [], "lightning"
    return 0, rules.GENERIC, [], ""


def _keys(run: Path) -> list[str]:
    m = run / "metrics"
    return sorted(str(p.relative_to(m)) for p in m.rglob("*") if p.is_file()) if m.is_dir() else []


def read_file_store(path: Path, opts: LogOptions) -> LogSeries:
    notes: list[str] = []
    if path.is_file():  # one metric file: .../<run>/metrics/<key...>
        parts = path.parts
        i = len(parts) - 1 - parts[::-1].index("metrics")
        run, keys = Path(*parts[:i]), ["/".join(parts[i + 1:])]
        tag = keys[0] if opts.tag is None else opts.tag
        if tag != keys[0]:
            raise LrplanError(f"{path} is the metric {keys[0]!r}, not {tag!r}")
    else:
        runs = _runs(path)
        if not runs:
            raise LrplanError(f"{path} holds no MLflow run (mlruns/<experiment>/<run>/metrics/)")
        run = _latest(runs, notes)
        m = run / "metrics"
        keys = sorted(str(p.relative_to(m)) for p in m.rglob("*") if p.is_file())
        tag, more = pick_tag(str(run), keys, opts.tag, what="metric")
        notes += more
    steps, values = [], []
    f = run / "metrics" / tag
    for no, line in enumerate(read_text(f, what="MLflow metric file", limit=MAX_BYTES).splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) not in (2, 3, 5):
            raise LrplanError(f"{f} line {no}: expected 'timestamp value step', got {line[:60]!r}")
        try:
            values.append(float(fields[1]))
            steps.append(int(fields[2]) if len(fields) >= 3 else 0)
        except ValueError:
            raise LrplanError(f"{f} line {no}: {line[:60]!r} is not 'timestamp value step'") from None
    offset, rule, more, framework = _rule(_params(run), opts, tag, keys if path.is_dir() else _keys(run))
    return build("mlflow", str(path), tag, steps, values, precision=EXACT, offset=offset, step_field="step",
                 rule=rule, tags=keys, notes=notes + more, framework=framework, opts=opts)


def read_sqlite(path: Path, opts: LogOptions) -> LogSeries:
    import os
    import sqlite3

    from ..fileio import open_regular

    os.close(open_regular(path, "MLflow database"))  # a regular file, not a FIFO or a device
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        raise LrplanError(f"cannot open {path} as an MLflow database: {e}") from None
    notes: list[str] = []
    try:
        runs = con.execute("SELECT run_uuid, name, start_time FROM runs ORDER BY start_time").fetchall()
        if not runs:
            raise LrplanError(f"{path} holds no MLflow runs")
        run_id = opts.get("run") or runs[-1][0]
        if len(runs) > 1 and opts.get("run") is None:
            notes.append(f"{len(runs)} runs in {path}: read {runs[-1][0]} ({runs[-1][1]}), the latest started; "
                         "--set run=RUN_ID picks another")
        keys = [r[0] for r in con.execute("SELECT DISTINCT key FROM metrics WHERE run_uuid=? ORDER BY key",
                                          (run_id,))]
        tag, more = pick_tag(f"{path} run {run_id}", keys, opts.tag, what="metric")
        rows = con.execute("SELECT step, value, is_nan FROM metrics WHERE run_uuid=? AND key=? "
                           "ORDER BY timestamp, rowid", (run_id, tag)).fetchall()
        params = dict(con.execute("SELECT key, value FROM params WHERE run_uuid=? AND key IN "
                                  "('transformers_version', 'deepspeed', 'lr_scheduler_type')", (run_id,)).fetchall())
    except sqlite3.Error as e:
        raise LrplanError(f"{path} is not an MLflow database lrplan can read ({e})") from None
    finally:
        con.close()
    offset, rule, extra, framework = _rule(params, opts, tag, keys)
    values = [float("nan") if nan else float(v) for _, v, nan in rows]
    return build("mlflow", str(path), tag, [int(r[0]) for r in rows], values, precision=EXACT, offset=offset,
                 step_field="step", rule=rule, tags=keys, notes=notes + more + extra, framework=framework, opts=opts)
