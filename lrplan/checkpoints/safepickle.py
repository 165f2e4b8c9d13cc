"""Read pickles and torch checkpoint files without running any pickled code or reading tensor bytes.

Safety model (docs/checkpoints.md): ``find_class`` never imports anything. A handful of plain
containers on the allow-list are built for real (``collections.OrderedDict``, ``set``, ``frozenset``,
``complex``, ``torch.Size`` as a tuple); every other global becomes an inert :class:`Record` subclass
that only remembers its name, its constructor arguments and its state. REDUCE, NEWOBJ, INST, OBJ and
BUILD on a record just store their arguments, so no pickled callable (``os.system``, ``eval``...) is
ever called. Tensor storages are persistent ids: ``persistent_load`` returns a :class:`Storage`
placeholder and the storage bytes are never read. Sizes are capped (pickle bytes, zip members,
converted nodes, nesting depth) so hostile files end in a :class:`CheckpointError`, not a hang.
"""

from __future__ import annotations

import _compat_pickle
import collections
import contextvars
import io
import pickle
import re
import struct
import zipfile
import zlib
from pathlib import Path

from ..errors import CheckpointError, ExitCode, LrplanError

# data.pkl holds metadata only (a storage reference per tensor): well under 1 MB even for large models.
MAX_PICKLE_BYTES = 16 * 1024 * 1024
MAX_NODES = 2_000_000  # objects visited when converting to plain Python
MAX_OBJECTS = 500_000  # records and storages built while unpickling (counted as they are made)
# The objects left to build in the pickle being read now: one budget per load (a context variable, so a
# load inside a load, or in another thread, has its own and never resets or spends another's).
_BUDGET: contextvars.ContextVar[list[int]] = contextvars.ContextVar("lrplan_pickle_budget")


def _spend() -> None:
    budget = _BUDGET.get(None)
    if budget is None:
        return  # built outside a load (a test constructing a Record by hand)
    budget[0] -= 1
    if budget[0] < 0:
        raise CheckpointError("the pickle builds more objects than checkpoint metadata holds",
                              hint="is this really a checkpoint?")
MAX_DEPTH = 200
TORCH_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C  # torch/serialization.py MAGIC_NUMBER (torch 2.13)


class Record:
    """An inert stand-in for an object of a class lrplan does not build (``module.name``)."""

    _module = "?"
    _name = "?"

    def __new__(cls, *args, **kwargs):
        _spend()
        self = object.__new__(cls)
        self.args = args
        self.kwargs = kwargs
        self.state = None
        return self

    def __init__(self, *args, **kwargs) -> None:  # NEWOBJ then no __init__; REDUCE/INST call both
        pass

    def __setstate__(self, state) -> None:
        self.state = state

    @property
    def qualname(self) -> str:
        return f"{self._module}.{self._name}"

    def fields(self) -> dict:
        """The object's attribute dict (``__setstate__``/BUILD state), or {}."""
        st = self.state
        if isinstance(st, tuple) and len(st) == 2 and (st[0] is None or isinstance(st[0], dict)):
            st = {**(st[0] or {}), **(st[1] or {})}  # (dict, slots) state
        return st if isinstance(st, dict) else {}

    @property
    def value(self):
        """An enum member pickled as ``Cls(value)`` comes back as its value."""
        return self.args[0] if len(self.args) == 1 and self.state is None else None

    def __repr__(self) -> str:
        return f"<{self.qualname}>"


class Storage:
    """A tensor storage placeholder; its bytes stay on disk, unread."""

    def __init__(self, pid) -> None:
        _spend()
        self.pid = repr(pid)[:200]

    def __repr__(self) -> str:
        return "<storage>"


_RECORD_TYPES: dict[tuple[str, str], type] = {}


def _record_type(module: str, name: str) -> type:
    key = (module[:200], name[:200])
    if key not in _RECORD_TYPES:
        if len(_RECORD_TYPES) > 10_000:
            raise CheckpointError("the pickle names too many classes", hint="is this really a checkpoint?")
        _RECORD_TYPES[key] = type("Record", (Record,), {"_module": key[0], "_name": key[1]})
    return _RECORD_TYPES[key]


def _size(value) -> tuple:
    return tuple(value)


def _latin1(text, encoding="latin1"):
    # protocol-2 pickles of bytes: _codecs.encode(str, 'latin1'); no other codec is honoured
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise CheckpointError("the pickle asks for an unexpected codec call")
    return text.encode("latin1")


class EnumName(str):
    """An enum member pickled by name (``getattr(Cls, "NAME")``: Python 3.12+, and 3.11.0-3.11.2 for str
    enums): its member name, with the class it belongs to. The real getattr is never called."""

    qualname = ""


def _getattr(obj, name):
    """``builtins.getattr`` in a pickle: only ``getattr(<a class>, "MEMBER")``, the by-name pickling of an enum
    member, is answered (with an inert member record); any other use is code to run: hostile."""
    if isinstance(obj, type) and issubclass(obj, Record) and isinstance(name, str) and name.isidentifier():
        _spend()
        member = EnumName(name[:200])
        member.qualname = f"{obj._module}.{obj._name}"
        return member
    raise HostileError(f"the pickle calls getattr on {obj!r:.60} (not an enum member lookup)")


def _reconstructor(cls, base, state=None):
    # copyreg._reconstructor(cls, object, None) from protocol 0/1 pickles: only records are built
    if isinstance(cls, type) and issubclass(cls, Record):
        return cls()
    raise CheckpointError("the pickle asks to reconstruct a non-record class")


# The allow-list: globals built for real. Everything else is a Record.
ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "complex"): complex,
    ("builtins", "getattr"): _getattr,  # enum members by name only; see _getattr
    ("_codecs", "encode"): _latin1,
    ("copyreg", "_reconstructor"): _reconstructor,
    ("torch", "Size"): _size,
}

# Globals whose only use in a pickle is to run code on load (os.system, eval, subprocess.Popen, ...). No
# checkpoint names them; one that does is hostile: lrplan says so, where it sits, and reads no further.
# (They are never called either way: every global outside the allow-list becomes an inert Record.)
HOSTILE_MODULES = frozenset({
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty", "ctypes",
    "multiprocessing", "code", "codeop", "pickle", "_pickle", "marshal", "webbrowser", "commands", "platform",
    "signal", "asyncio", "threading", "_thread", "pdb", "bdb", "timeit", "cProfile", "profile", "tempfile",
    "glob", "urllib", "http", "ftplib", "smtplib", "telnetlib", "xmlrpc", "zipimport", "pkgutil", "site",
    "operator", "_operator", "inspect", "ast", "builtins.__import__", "nturl2path", "popen2"})
HOSTILE_BUILTINS = frozenset({"eval", "exec", "compile", "open", "__import__", "setattr", "delattr",
                              "globals", "locals", "vars", "input", "breakpoint", "exit", "quit", "help",
                              "execfile", "apply", "reload", "file", "__loader__", "__build_class__"})


# plain data that lives in a module whose functions are hostile: Megatron's args hold exit_signal, a
# signal.Signals member (pickled as a call of the enum class with the signal's number)
INERT_NAMES = frozenset({("signal", "Signals"), ("signal", "Handlers"), ("signal", "Sigmasks"),
                         ("platform", "uname_result")})


# Python 3.11.0-3.11.2 pickle a signal.Signals member as the global itself ("signal SIGTERM"), not as a call
SIGNAL_MEMBER = re.compile(r"SIG[A-Z0-9]+|SIG_(DFL|IGN|BLOCK|UNBLOCK|SETMASK)|CTRL_(C|BREAK)_EVENT")


def hostile(module: str, name: str) -> bool:
    if (module, name) in INERT_NAMES or (module == "signal" and SIGNAL_MEMBER.fullmatch(name)):
        return False
    top = module.split(".")[0]
    return top in HOSTILE_MODULES or module in HOSTILE_MODULES or (
        top in ("builtins", "__builtin__") and name in HOSTILE_BUILTINS)


class HostileError(CheckpointError):
    """The file names code that would run on load: nothing ran, and nothing more is read from it."""

    exit_code = ExitCode.HOSTILE


class SafeUnpickler(pickle.Unpickler):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.hostile: list[str] = []

    def find_class(self, module: str, name: str):
        # the names a Python-3 pickler wrote for Python 2 (fix_imports): mapped back, as pickle itself does
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if hostile(module, name):
            self.hostile.append(f"{module}.{name}")
        found = ALLOWED.get((module, name))
        if found is None and module == "signal" and SIGNAL_MEMBER.fullmatch(name):
            member = EnumName(name)
            member.qualname = "signal.Signals"
            return member  # the member, by name (inert: nothing of the signal module is imported)
        return found if found is not None else _record_type(module, name)

    def persistent_load(self, pid):
        return Storage(pid)


def loads(data: bytes, *, what: str = "pickle"):
    """Unpickle ``data`` safely (one pickle)."""
    return _load_stream(io.BytesIO(data), what)


def _load_stream(stream, what: str):
    token = _BUDGET.set([MAX_OBJECTS])
    try:
        unpickler = SafeUnpickler(stream, encoding="latin1")
        try:
            obj = unpickler.load()
        except HostileError as e:
            raise HostileError(f"{what} is hostile: {e.message}; nothing was run",
                               hint="do not load this file with torch.load or pickle either") from None
        if unpickler.hostile:
            names = ", ".join(sorted(set(unpickler.hostile)))
            where = locate_hostile(obj)
            raise HostileError(f"{what} is hostile: it holds a pickled call of {names}"
                               f" ({'at ' + where if where else 'not reachable from the saved object'});"
                               " nothing was run", hint="do not load this file with torch.load or pickle either")
        return obj
    except CheckpointError:
        raise
    except RecursionError:
        raise CheckpointError(f"{what} is nested too deeply") from None
    except MemoryError:
        raise CheckpointError(f"{what} declares more data than it holds") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            OverflowError, UnicodeDecodeError, ImportError) as e:
        raise CheckpointError(f"{what} is not a readable pickle ({type(e).__name__}: {str(e)[:120]})",
                              hint="the file may be truncated or corrupt") from None
    finally:
        _BUDGET.reset(token)


def load_bytes(data: bytes, what: str, *, nested: int = 0):
    """A torch checkpoint held in memory: zip archive, legacy torch stream, or a plain pickle."""
    if data[:4] == b"PK\x03\x04":
        with _open_zip(io.BytesIO(data), what) as zf:
            return _load_zip(zf, what)
    return _load_pickle_stream(io.BytesIO(data), what)


def load_file(path: Path):
    """Read a torch checkpoint file (``torch.save`` zip or legacy) or a plain pickle, safely."""
    import os

    from .. import fileio
    from .locate import inside

    what = str(path)
    try:
        fd = fileio.open_regular(inside(Path(path)), "checkpoint")  # never blocks on a FIFO named x.pt
    except CheckpointError:
        raise
    except LrplanError as e:
        raise CheckpointError(e.message, hint=e.hint) from None
    try:
        with os.fdopen(fd, "rb") as f:
            head = f.read(4)
            f.seek(0)
            if head == b"PK\x03\x04":
                with _open_zip(f, what) as zf:
                    return _load_zip(zf, what)
            if not head:
                raise CheckpointError(f"{what} is empty")
            if head[:1] != b"\x80" and head[:1] not in (b"(", b"}", b"]", b"c"):
                raise CheckpointError(f"{what} is neither a torch checkpoint nor a pickle",
                                      hint="lrplan reads torch.save files (.pt/.bin/.ckpt) and checkpoint directories")
            data = f.read(MAX_PICKLE_BYTES + 1)
    except OSError as e:
        raise CheckpointError(f"cannot read {what}: {e.strerror or e}") from None
    # A legacy torch file keeps tensor bytes after its pickles: only the head is read.
    return _load_pickle_stream(io.BytesIO(data), what)


def _open_zip(f, what: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(f)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, OverflowError, KeyError,
            UnicodeDecodeError, struct.error) as e:  # zipfile raises all of these on damaged headers
        raise CheckpointError(f"{what} is a damaged zip archive ({e})", hint="the file may be truncated") from None


def _load_zip(zf: zipfile.ZipFile, what: str):
    names = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
    if len(names) != 1:
        raise CheckpointError(f"{what} is a zip archive but not a torch checkpoint (no */data.pkl)",
                              hint="lrplan reads files written by torch.save")
    info = zf.getinfo(names[0])
    if info.file_size > MAX_PICKLE_BYTES:
        raise CheckpointError(f"{what}: {names[0]} declares {info.file_size} bytes, more than lrplan reads "
                              f"({MAX_PICKLE_BYTES})", hint="is this really a checkpoint?")
    prefix = names[0][: -len("data.pkl")]
    try:
        byteorder = b"little"
        if prefix + "byteorder" in zf.namelist():
            with zf.open(prefix + "byteorder") as member:
                byteorder = member.read(17)  # bounded: the member may claim (or expand to) gigabytes
        with zf.open(info) as member:
            data = member.read(MAX_PICKLE_BYTES + 1)  # bounded even if the declared size lies (zip bomb)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, OverflowError, KeyError,
            UnicodeDecodeError, struct.error, zlib.error) as e:
        raise CheckpointError(f"{what}: cannot read {names[0]} ({e})", hint="the file may be truncated") from None
    if len(data) > MAX_PICKLE_BYTES:
        raise CheckpointError(f"{what}: {names[0]} expands past {MAX_PICKLE_BYTES} bytes", hint="a zip bomb?")
    if byteorder not in (b"little", b"big"):
        raise CheckpointError(f"{what}: unexpected byteorder record {byteorder!r}")
    return loads(data, what=f"{what} ({names[0]})")


def _load_pickle_stream(stream, what: str):
    """A plain pickle, or torch's legacy format: magic, protocol, sys_info, then the object."""
    first = _load_stream(stream, what)
    if first != TORCH_LEGACY_MAGIC:
        return first
    protocol = _load_stream(stream, what)
    if protocol != 1001:
        raise CheckpointError(f"{what}: legacy torch file with unknown protocol {protocol!r}")
    _load_stream(stream, what)  # sys_info
    return _load_stream(stream, what)  # storages follow; never read


def locate_hostile(obj, path: str = "", _depth: int = 0, _seen=None) -> str | None:
    """Where in the loaded object the first record of a hostile global sits (``lr_scheduler.x``), or None."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen or _depth > MAX_DEPTH or len(seen) > MAX_NODES:
        return None
    seen.add(id(obj))
    if isinstance(obj, Record) and hostile(obj._module, obj._name):
        return path or "the top level"
    if isinstance(obj, type) and issubclass(obj, Record) and hostile(obj._module, obj._name):
        return path or "the top level"
    items = []
    if isinstance(obj, dict):
        items = [(f"{path}.{k}" if path else str(k), v) for k, v in obj.items()]
    elif isinstance(obj, (list, tuple, set, frozenset)):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(obj)]
    elif isinstance(obj, Record):
        items = [(f"{path}({obj.qualname})", v) for v in (*obj.args, obj.state)]
    for where, value in items:
        found = locate_hostile(value, where, _depth + 1, seen)
        if found:
            return found
    return None


def plain(obj, *, _depth: int = 0, _memo=None, _budget=None):
    """Convert to plain Python: dicts, lists, scalars; records of objects become their field dicts
    (with ``__class__``), enums their value. Shared sub-objects are converted once (no DAG blow-up)."""
    memo = {} if _memo is None else _memo
    budget = [MAX_NODES] if _budget is None else _budget
    if isinstance(obj, (str, bytes, int, float, bool, type(None), complex)):
        return obj
    if id(obj) in memo:
        return memo[id(obj)]
    budget[0] -= 1
    if budget[0] < 0:
        raise CheckpointError("the checkpoint metadata is unreasonably large")
    if _depth > MAX_DEPTH:
        raise CheckpointError("the checkpoint metadata is nested too deeply")
    kw = dict(_depth=_depth + 1, _memo=memo, _budget=budget)
    if isinstance(obj, dict):
        out = memo[id(obj)] = {}
        for k, v in obj.items():
            out[k if isinstance(k, (str, int, float, bool, type(None))) else repr(k)] = plain(v, **kw)
        return out
    if isinstance(obj, (list, tuple, set, frozenset)):
        out = memo[id(obj)] = []
        out.extend(plain(v, **kw) for v in obj)
        return out
    if isinstance(obj, type) and issubclass(obj, Record):
        return obj._module + "." + obj._name
    if isinstance(obj, Record):
        if obj.value is not None and not isinstance(obj.value, (Record, Storage)):
            return plain(obj.value, **kw)
        fields = obj.fields()
        if fields or obj.state is not None:
            out = memo[id(obj)] = {"__class__": obj.qualname}
            out.update(plain(fields, **kw))
            return out
        return repr(obj)
    return repr(obj)
