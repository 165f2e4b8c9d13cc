"""SOURCE -> Loaded schedule: detect what the user gave and call the right reader.

A SOURCE is a spec string, a preset name, a flag string, a path to a JSON/YAML/TOML/flags file, a
checkpoint file or directory, or ``-`` for standard input (design.md "Command line"). ``--from``
forces the format.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from . import frameworks
from .errors import LrplanError, did_you_mean
from .fileio import read_text
from .frameworks.base import Loaded, ReadOptions

_PRESET_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*")  # a spec has '=' or ',' and never looks like this
# What a SOURCE that names a file ends with; one of these (or a '/') on a path that does not exist is a
# mistyped path, not a spec.
FILE_SUFFIXES = (".pt", ".pth", ".bin", ".ckpt", ".distcp", ".safetensors", ".json", ".yaml", ".yml", ".toml",
                 ".txt", ".sh", ".py", ".cfg", ".conf", ".log", ".csv")
WHAT_A_SOURCE_IS = ("a SOURCE is a spec (\"warmup=2000,cosine,min=0.1\"), a preset name (lrplan presets), "
                    "a config file (Megatron flags, DeepSpeed JSON, HF YAML/JSON, torchtitan TOML), a "
                    "checkpoint file or directory, a flag string, or - (standard input)")


def load(source: str, *, fmt: str | None = None, opts: ReadOptions = ReadOptions()) -> Loaded:
    if source[:1] == " " and source.lstrip().startswith("-"):
        source = source.lstrip()  # a quoted flag block the CLI shielded from click (cli._flag_strings_as_sources)
    found = log_source(source, fmt)
    if found is not None:
        path, kind = found
        raise LrplanError(f"{source} is a training log ({kind or 'log'}), not a schedule",
                          hint="`lrplan check LOG PLAN` compares it with a plan, `lrplan fit LOG` recovers the "
                               "schedule it followed, `lrplan plot LOG [PLAN]` draws it")
    if fmt is not None and fmt not in frameworks.MODULES and fmt != "checkpoint":
        raise LrplanError(f"unknown format {fmt!r} for --from",
                          hint=did_you_mean(fmt, list(frameworks.MODULES) + ["checkpoint"], noun="format"))
    if fmt == "checkpoint" and (source == "-" or _as_path(source) is None):
        raise LrplanError(f"--from checkpoint needs a checkpoint file or directory; {source!r} is neither",
                          hint="a checkpoint cannot come from standard input or a spec; pass its path")
    if source == "-":
        text = read_stdin()
        if not text.strip():
            raise LrplanError("standard input is empty", hint=WHAT_A_SOURCE_IS)
        return _read_text(text, None, fmt, opts, label="stdin")
    if not source.strip():
        raise LrplanError("the SOURCE is empty", hint=WHAT_A_SOURCE_IS)
    path = _as_path(source)
    if path is not None:
        if fmt == "checkpoint" or (fmt is None and is_checkpoint(path)):
            from .checkpoints import load_checkpoint

            try:
                return load_checkpoint(path, opts)
            except LrplanError as e:
                if fmt is None and path.is_dir() and _holds_log(path):
                    e.hint = ((e.hint + "; ") if e.hint else "") + ("it also holds training logs: pass the log "
                                                                    "itself (trainer_state.json, runs/, mlruns/) "
                                                                    "to read its LRs")
                raise
        if path.is_dir():
            raise LrplanError(f"{source} is a directory but not a checkpoint lrplan knows",
                              hint="see `lrplan inspect --help` for the checkpoint layouts it reads")
        return _read_text(read_text(path), path, fmt, opts, label=str(path))
    if looks_like_path(source):
        raise LrplanError(f"no such file: {source}", hint=WHAT_A_SOURCE_IS)
    if looks_like_option(source):
        raise LrplanError(f"no such option: {source}", hint="see the command's --help")
    if fmt is None and _PRESET_NAME.fullmatch(source):
        preset = _preset(source)
        if preset is not None:
            return preset(opts)
    if fmt is None and not source.lstrip().startswith(("-", "{", "[")) and not _FLAG.search(source):
        fmt = "spec"  # the common case: no other reader needs to be imported
    try:
        return _read_text(source, None, fmt, opts, label=source)
    except LrplanError as e:
        near = _near_preset(source) if fmt == "spec" else None
        if near is None:
            raise
        raise LrplanError(f"no preset named {source!r}", hint=f"did you mean '{near}'? (lrplan presets lists them)",
                          ) from e


MAX_STDIN_BYTES = 16 * 1024 * 1024
_FLAG = re.compile(r"(?:^|\s)--?[A-Za-z]")  # a pasted command line (``torchrun ... --lr 3e-4``), not a spec


def read_stdin() -> str:
    """Standard input as text, bounded (a schedule is small; `/dev/zero` piped in is not one)."""
    data = sys.stdin.buffer.read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        raise LrplanError("standard input is larger than 16 MiB; a schedule or config is expected to be small")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise LrplanError(f"standard input is not UTF-8 text (byte {e.start})",
                          hint="a checkpoint? pass its path instead of piping it") from None


def looks_like_path(source: str) -> bool:
    """One word with a '/' or a file suffix, and no spec punctuation: a path, even when it does not exist."""
    t = source.strip()
    if not t or any(c.isspace() for c in t) or any(c in t for c in "=,()[]") or t.startswith("-"):
        return False
    return "/" in t or t.lower().endswith(FILE_SUFFIXES)


def looks_like_option(source: str) -> bool:
    """A lone ``--word`` (not a flag string, which has a value after a space): an option the command lacks."""
    t = source.strip()
    return t.startswith("-") and t != "-" and not any(c.isspace() for c in t) and "=" not in t


def _near_preset(word: str) -> str | None:
    """A preset name close to ``word`` when ``word`` is no spec (a typo of a preset, "llama3-450b")."""
    import difflib

    if not _PRESET_NAME.fullmatch(word.strip()):
        return None
    from .presets import all_presets

    found = difflib.get_close_matches(word.strip().lower(), list(all_presets()), n=1, cutoff=0.75)
    return found[0] if found else None


def log_source(source: str, fmt: str | None) -> tuple[Path, str | None] | None:
    """(path, kind) when ``source`` is a training log (TensorBoard, W&B, MLflow, trainer_state.json,
    metrics.csv, Megatron/DeepSpeed stdout) or ``--from log[:KIND]`` says so; None otherwise. A checkpoint
    directory stays a checkpoint (its trainer_state.json is read as a log only when asked)."""
    if fmt is None and _as_path(source) is None:
        return None  # a spec, preset or flag string: no log reader is imported (start-up is a benchmark target)
    if fmt is not None and not (fmt == "log" or fmt.startswith("log:")):
        return None
    from . import logs

    forced, kind = logs.kind_of_from(fmt)
    if fmt is not None and not forced:
        return None
    path = _as_path(source)
    if forced:
        if path is None:
            raise LrplanError(f"no such file or directory: {source}", hint="--from log reads " + logs.WHAT)
        return path, kind
    if path is None or is_checkpoint(path):
        return None
    found = logs.detect(path)
    return (path, found[0]) if found else None


def _holds_log(path: Path) -> bool:
    from . import logs

    return bool(logs.detect(path))


def load_log(source: str, fmt: str | None, opts: ReadOptions = ReadOptions(), tag: str | None = None):
    """The LR series of the log ``source`` (lrplan.logs.LogSeries); a clear error when it is no log."""
    from . import logs

    forced, kind = logs.kind_of_from(fmt)
    path = _as_path(source)
    if path is None:
        raise LrplanError(f"no such file or directory: {source}", hint="LOG is " + logs.WHAT)
    return logs.read(path, kind=kind if forced else None, opts=logs.LogOptions(tag=tag, extra=opts.extra))


def checkpoint_path(source: str, fmt: str | None) -> Path | None:
    """The path of ``source`` when it is a checkpoint (or ``--from checkpoint`` says so), else None."""
    path = _as_path(source)
    if path is not None and (fmt == "checkpoint" or (fmt is None and is_checkpoint(path))):
        return path
    return None


def _as_path(source: str) -> Path | None:
    if "\n" in source or len(source) > 4096:
        return None
    p = Path(source).expanduser()
    try:
        return p if p.exists() else None
    except OSError:
        return None


def is_checkpoint(path: Path) -> bool:
    from .checkpoints import looks_like_checkpoint

    return looks_like_checkpoint(path)


def _preset(name: str):
    from .presets import lookup

    return lookup(name)


def _read_text(text: str, path: Path | None, fmt: str | None, opts: ReadOptions, *, label: str) -> Loaded:
    if fmt is None:
        fmt = detect(text, path)
    reader = frameworks.get(fmt).read
    if reader is None:
        raise LrplanError(f"format {fmt!r} can be written but not read",
                          hint="readers: " + ", ".join(frameworks.readers()))
    loaded = reader(text, path, opts)
    if loaded.label == text.strip() and path is None and fmt != "spec":
        loaded = Loaded(loaded.schedule, loaded.format, label, loaded.notes, loaded.step_name, loaded.raw)
    return loaded


def _syntax_error(text: str, path: Path | None) -> str | None:
    """"JSON: ... at line 3, column 5" when the text is meant as JSON or YAML and that parser fails."""
    import json

    t = text.lstrip()
    suffix = path.suffix.lower() if path else ""
    if t.startswith(("{", "[")) or suffix == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            return f"JSON: {e.msg} at line {e.lineno}, column {e.colno}"
        except RecursionError:
            return "JSON: nested too deeply"
    if suffix in (".yaml", ".yml") or (":" in t and "\n" in t and not t.startswith("-")):
        from .yamlsafe import syntax_error

        why = syntax_error(text)
        if why is not None:
            return f"YAML: {why}"
    return None


def detect(text: str, path: Path | None) -> str:
    best, score = None, 0
    for name in frameworks.MODULES:
        f = frameworks.get(name)
        if f.detect is None or f.read is None:
            continue
        s = f.detect(text, path)
        if s > score:
            best, score = name, s
    if best is None:
        where = str(path) if path else "the source"
        broken = _syntax_error(text, path)
        if broken is not None:
            raise LrplanError(f"{where} is not valid {broken}",
                              hint="fix the file, or force a reader with --from " + "|".join(frameworks.readers()))
        raise LrplanError(f"cannot tell what format {where} is in",
                          hint="force it with --from " + "|".join(frameworks.readers()))
    return best
