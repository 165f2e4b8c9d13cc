"""Hostile and broken checkpoints: nothing pickled ever runs, every failure is a clear CheckpointError.

Each hostile payload would create a canary file if any pickled callable ran; the tests check the canary
is absent after reading through the library and through the CLI (exit 2, an ``error:`` line, no traceback).
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lrplan.checkpoints import read_info, safepickle
from lrplan.errors import CheckpointError, ExitCode
from conftest import require, run_cli

FIX = Path(__file__).parents[1] / "fixtures" / "checkpoints"


class _Reduce:
    """Pickles as REDUCE(func, args) without ever calling func here."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _u(text: str) -> bytes:
    """BINUNICODE of ``text`` (protocol 2+)."""
    data = text.encode()
    return b"X" + len(data).to_bytes(4, "little") + data


def _build_calls_system(canary: Path) -> bytes:
    """BUILD twice on the new object: the first sets its __setstate__ to os.system, the second calls it."""
    return (b"}" + _u("__setstate__") + b"cos\nsystem\ns" + b"b" + _u(f"touch {canary}") + b"b.")


def _payloads(canary: Path) -> dict[str, bytes]:
    """Pickles that run code when loaded by the standard pickle module (each is checked to be live)."""
    touch = f"touch {canary}"
    src = f"open({str(canary)!r}, 'w').write('ran')"
    q = repr(touch).encode()
    return {
        "reduce_os_system": pickle.dumps(_Reduce(os.system, (touch,)), protocol=2),
        "reduce_eval": pickle.dumps(_Reduce(eval, (src,)), protocol=2),
        "reduce_exec": pickle.dumps(_Reduce(exec, (src,)), protocol=2),
        "reduce_popen": pickle.dumps(_Reduce(subprocess.Popen, (["touch", str(canary)],)), protocol=2),
        "stack_global_system": pickle.dumps({"lr_scheduler": _Reduce(os.system, (touch,))}, protocol=4),
        "inst_system": b"(S" + q + b"\nios\nsystem\n.",
        "obj_system": b"\x80\x02(cos\nsystem\nS" + q + b"\no.",
        # NEWOBJ builds a SimpleNamespace; BUILD gives it __setstate__ = os.system; a second BUILD calls it
        "newobj_build_system": b"\x80\x02ctypes\nSimpleNamespace\n)\x81" + _build_calls_system(canary),
        # the same with NEWOBJ_EX (protocol 4: class, args, kwargs)
        "newobj_ex_build_system": b"\x80\x04ctypes\nSimpleNamespace\n)}\x92" + _build_calls_system(canary),
    }


def test_every_hostile_payload_is_live(tmp_path):
    """Positive control: each payload really runs its code under the standard pickle module."""
    for kind, data in _payloads(tmp_path / "canary").items():
        canary = tmp_path / "canary"
        code = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
        subprocess.run([sys.executable, "-c", code], input=data, capture_output=True, timeout=60)
        assert canary.exists(), f"{kind} runs nothing under stock pickle: it proves nothing"
        canary.unlink()


def _torch_zip(data_pkl: bytes, name: str = "archive") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{name}/data.pkl", data_pkl)
        z.writestr(f"{name}/byteorder", "little")
        z.writestr(f"{name}/version", "3\n")
    return buf.getvalue()


@pytest.fixture
def canary(tmp_path):
    c = tmp_path / "canary"
    yield c
    assert not c.exists(), "a pickled callable ran"


NAMED = {"reduce_os_system": "posix.system", "reduce_eval": "builtins.eval", "reduce_exec": "builtins.exec",
         "reduce_popen": "subprocess.Popen", "stack_global_system": "posix.system", "inst_system": "os.system",
         "obj_system": "os.system", "newobj_build_system": "os.system", "newobj_ex_build_system": "os.system"}


@pytest.mark.parametrize("kind", list(_payloads(Path("x"))))
def test_hostile_pickle_runs_nothing_in_library(kind, canary):
    data = _payloads(canary)[kind]
    for blob in (data, _torch_zip(data)):
        with pytest.raises(safepickle.HostileError) as e:
            safepickle.load_bytes(blob, kind)
        assert NAMED[kind] in e.value.message and "nothing was run" in e.value.message
    assert not canary.exists()


@pytest.mark.parametrize("kind", list(_payloads(Path("x"))))
def test_hostile_checkpoint_file_through_cli(kind, canary, tmp_path):
    for suffix, blob in ((".pt", _torch_zip(_payloads(canary)[kind])), (".bin", _payloads(canary)[kind])):
        f = tmp_path / f"evil{suffix}"
        f.write_bytes(blob)
        for args in (["inspect", str(f)], ["at-step", "3", str(f)], ["table", str(f)]):
            r = run_cli(*args)
            assert r.returncode == ExitCode.HOSTILE, r.stderr
            assert r.stderr.startswith("error:") and "is hostile" in r.stderr and NAMED[kind] in r.stderr
            assert "Traceback" not in r.stderr
    assert not canary.exists()


def test_hostile_scheduler_field_in_real_layout(canary, tmp_path):
    """A DeepSpeed layout whose lr_scheduler.last_batch_iteration is a pickled call of os.system: never run,
    and named with where it sits (it was once read as None and the report went on)."""
    d = tmp_path / "run"
    (d / "global_step1").mkdir(parents=True)
    (d / "latest").write_text("global_step1")
    state = {"lr_scheduler": {"last_batch_iteration": _Reduce(os.system, (f"touch {canary}",))},
             "global_steps": 7, "skipped_steps": 0, "ds_config": {}}
    data = pickle.dumps(state, protocol=2)
    live = subprocess.run([sys.executable, "-c", "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"],
                          input=data, capture_output=True, timeout=60)
    assert canary.exists() and live.returncode == 0  # the payload is live under stock pickle
    canary.unlink()
    (d / "global_step1" / "mp_rank_00_model_states.pt").write_bytes(_torch_zip(data))
    for args in (["inspect", str(d)], ["at-step", "3", str(d), "--json"], ["resume", str(d), "--extend-to", "9"]):
        r = run_cli(*args)
        assert r.returncode == ExitCode.HOSTILE, r.stderr
        assert "posix.system (at lr_scheduler.last_batch_iteration)" in r.stderr and "Traceback" not in r.stderr


def test_an_unknown_inert_class_is_read(tmp_path):
    """A class lrplan does not know, pickled as plain data (no call on load), stays an inert record."""
    torch = require("torch")
    import types

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    for _ in range(3):
        opt.step()
        sched.step()
    state = {"lr_scheduler": sched.state_dict(), "meta": types.SimpleNamespace(run="x")}
    f = tmp_path / "ckpt.pt"
    torch.save(state, f)
    r = run_cli("inspect", str(f))
    assert r.returncode == 0, r.stderr


def test_only_the_latin1_codec_is_honoured():
    """Protocol-2 bytes come as _codecs.encode(text, 'latin1'); any other codec call is refused."""
    data = pickle.dumps(_Reduce(__import__("_codecs").encode, ("x", "rot13")), protocol=2)
    assert pickle.loads(data) == "k"  # positive control: stock pickle runs the codec
    with pytest.raises(CheckpointError, match="unexpected codec"):
        safepickle.loads(data)
    assert safepickle.loads(pickle.dumps(b"\xff\x00ab", protocol=2)) == b"\xff\x00ab"


def test_nested_archive_in_dcp_entry(canary, tmp_path):
    """torchtitan DCP layout whose bytes entry (a torch.save zip inside .distcp) is hostile."""
    torch = require("torch")
    import torch.distributed.checkpoint as dcp

    d = tmp_path / "step-3"
    dcp.save({"lr_scheduler": {"last_epoch": _Reduce(os.system, (f"touch {canary}",))}}, checkpoint_id=str(d),
             no_dist=True)
    assert not canary.exists()  # saving pickles the reduce, it does not call it
    r = run_cli("inspect", str(d))
    assert "Traceback" not in r.stderr and r.returncode == ExitCode.HOSTILE, r.stderr
    assert "entry 'lr_scheduler.last_epoch'" in r.stderr and "posix.system" in r.stderr
    del torch


def test_dcp_path_traversal_is_refused(tmp_path):
    torch = require("torch")
    import torch.distributed.checkpoint as dcp

    d = tmp_path / "step-3"
    dcp.save({"lr_scheduler": {"last_epoch": 3}}, checkpoint_id=str(d), no_dist=True)
    meta = (d / ".metadata").read_bytes()
    (d / ".metadata").write_bytes(meta.replace(b"__0_0.distcp", b"../../x.dcp"))
    with pytest.raises(CheckpointError):
        read_info(d)
    del torch


def test_truncated_fixtures_give_clear_errors(tmp_path):
    for src in (FIX / "torch" / "CosineAnnealingLR.pt", FIX / "megatron/legacy/iter_0000010/mp_rank_00/model_optim_rng.pt"):
        data = src.read_bytes()
        for cut in (10, len(data) // 2, len(data) - 30):
            f = tmp_path / src.name
            f.write_bytes(data[:cut])
            r = run_cli("at-step", "3", str(f))
            assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, r.stderr


def test_corrupt_and_wrong_format(tmp_path):
    cases = {"random.pt": os.urandom(4096), "text.pt": b"hello world\n", "empty.pt": b"",
             "nodatapkl.pt": _zip_without_pkl(), "truncated_pickle.bin": pickle.dumps({"a": list(range(100))})[:-7]}
    for name, blob in cases.items():
        f = tmp_path / name
        f.write_bytes(blob)
        r = run_cli("inspect", str(f))
        assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, (name, r.stderr)
    j = tmp_path / "x.json"
    j.write_text("{}")
    r = run_cli("inspect", str(j))
    assert r.returncode == 2 and "Traceback" not in r.stderr


def _zip_without_pkl() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a/b.txt", "x")
    return buf.getvalue()


def test_zip_bomb_is_bounded(tmp_path):
    """The real 16 MiB cap: a data.pkl past it is refused; one under it (a real pickle) is read."""
    assert safepickle.MAX_PICKLE_BYTES == 16 * 1024 * 1024
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", b"\x00" * (safepickle.MAX_PICKLE_BYTES + 1))
    f = tmp_path / "bomb.pt"
    f.write_bytes(buf.getvalue())
    assert f.stat().st_size < 1 << 20
    with pytest.raises(CheckpointError, match="declares|expands"):
        safepickle.load_file(f)
    under = pickle.dumps({"blob": b"x" * (safepickle.MAX_PICKLE_BYTES - 1024)}, protocol=2)
    f.write_bytes(_torch_zip(under))
    assert len(safepickle.load_file(f)["blob"]) == safepickle.MAX_PICKLE_BYTES - 1024


def test_byteorder_bomb_is_bounded(tmp_path):
    # A real data.pkl next to a byteorder member that expands to 256 MiB: only 17 bytes are read.
    import pickle

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("archive/data.pkl", pickle.dumps({"last_epoch": 3}))
        z.writestr("archive/byteorder", b"little" + b"\x00" * (256 << 20))
    f = tmp_path / "bomb.pt"
    f.write_bytes(buf.getvalue())
    assert f.stat().st_size < 2 << 20
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match="byteorder"):
            safepickle.load_file(f)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"reading the byteorder member took {peak} bytes: it must be bounded by memory"


def test_many_records_are_refused_while_unpickling():
    # 600k NEWOBJ records of one global in a few MB: counted as they are built, not after.
    body = b"\x80\x04c__main__\nX\n\x94" + b"(" + b"h\x00)\x81" * 600_000 + b"l."
    with pytest.raises(CheckpointError, match="more objects"):
        safepickle.loads(body)


def test_huge_declared_sizes():
    # BINUNICODE8 / BINBYTES8 / LONG4 declaring far more than the data holds
    for blob in (b"\x80\x04\x8d" + (1 << 62).to_bytes(8, "little") + b"abc.",
                 b"\x80\x04\x8e" + (1 << 62).to_bytes(8, "little") + b"abc.",
                 b"\x80\x02\x8b" + (0x7FFFFFF0).to_bytes(4, "little") + b"\x01."):
        with pytest.raises(CheckpointError):
            safepickle.loads(blob)


def test_deep_nesting_and_shared_blowup():
    deep = b"\x80\x02" + b"]" * 100_000 + b"a" * 99_999 + b"."
    with pytest.raises(CheckpointError, match="nested"):
        safepickle.plain(safepickle.loads(deep))
    # a DAG of 2**60 paths through 60 shared lists converts in linear time
    x: list = []
    for _ in range(60):
        x = [x, x]
    out = safepickle.plain(safepickle.loads(pickle.dumps(x, protocol=2)))
    assert out[0] is out[1]


def test_no_torch_import_on_checkpoint_paths():
    code = ("import sys\nfrom pathlib import Path\nfrom lrplan.checkpoints import read_info, compare\n"
            f"F = Path({str(FIX)!r})\n"
            "for p in ['megatron/legacy', 'megatron/torch_dist', 'deepspeed', 'hf', 'lightning/last.ckpt',"
            " 'torch/SequentialLR.pt']:\n    compare(read_info(F / p))\n"
            "read_info(F / 'torchtitan', config=str(F / 'torchtitan/job.toml'))\n"
            "bad = [m for m in ('torch', 'transformers', 'deepspeed', 'megatron') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def _typed(src: Path, dst: Path, path: tuple, value) -> None:
    state = safepickle.plain(safepickle.load_file(src))
    o = state
    for k in path[:-1]:
        o = o[k]
    o[path[-1]] = value
    dst.write_bytes(_torch_zip(pickle.dumps(state, protocol=2)))


MEGA = FIX / "megatron/legacy/iter_0000010/mp_rank_00/model_optim_rng.pt"
TYPED = [  # fields of unexpected type or value, as a damaged or crafted checkpoint may hold
    (MEGA, ("args", "lr"), "x"), (MEGA, ("args", "global_batch_size"), [1, 2]),
    (MEGA, ("opt_param_scheduler", "num_steps"), float("inf")), (MEGA, ("args", "lr_warmup_iters"), {}),
    (MEGA, ("iteration",), 10**30),
    (FIX / "torch/MultiStepLR.pt", ("milestones",), [[1], 2]), (FIX / "torch/SequentialLR.pt", ("_schedulers",), None),
    (FIX / "torch/CosineAnnealingLR.pt", ("T_max",), None), (FIX / "torch/CosineAnnealingLR.pt", ("last_epoch",), 2 ** 60),
    (FIX / "deepspeed/global_step6/mp_rank_00_model_states.pt", ("lr_scheduler", "last_batch_iteration"), float("nan")),
    (FIX / "deepspeed/global_step6/mp_rank_00_model_states.pt", ("ds_config", "scheduler"), [1]),
]


@pytest.mark.parametrize("src,path,value", TYPED, ids=[f"{s.stem}:{'.'.join(map(str, p))}" for s, p, _ in TYPED])
def test_fields_of_unexpected_type_are_clear_errors(src, path, value, tmp_path):
    """Every damaged field is an input error that names the field: never a crash, never a silent default."""
    from lrplan.checkpoints import read_info
    from lrplan.checkpoints.report import at_step
    from lrplan.errors import ExitCode, LrplanError
    from lrplan.frameworks.base import ReadOptions

    f = tmp_path / src.name
    _typed(src, f, path, value)
    with pytest.raises(LrplanError) as e:
        at_step("7", read_info(f, ReadOptions()), plan=None, opts=ReadOptions())
    assert e.value.exit_code == ExitCode.USAGE
    said = (e.value.where or "") + " " + e.value.message
    assert path[-1].replace("_", "-").lstrip("-") in said.replace("_", "-"), said


def test_typed_corruption_through_cli(tmp_path):
    f = tmp_path / "model_optim_rng.pt"
    _typed(MEGA, f, ("args", "lr"), "x")
    r = run_cli("inspect", str(f))
    assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, r.stderr


def test_the_object_budget_belongs_to_each_load():
    """A load inside another (a nested archive) has a budget of its own and leaves the outer one untouched."""
    outer = [7]
    token = safepickle._BUDGET.set(outer)
    try:
        assert safepickle.loads(pickle.dumps({"a": [1, 2, 3]})) == {"a": [1, 2, 3]}
        assert safepickle._BUDGET.get() is outer and outer == [7]
    finally:
        safepickle._BUDGET.reset(token)


def test_signal_member_pickled_by_name_is_data_not_a_call():
    """Python 3.11.0-3.11.2 pickle signal.SIGTERM (Megatron's args.exit_signal) as the bare global
    "signal SIGTERM"; 3.11.7 as a call of signal.Signals(15). Both are data; a call of signal.signal is not."""
    from lrplan.checkpoints import safepickle

    by_name = b"\x80\x02}q\x00X\x0b\x00\x00\x00exit_signalq\x01csignal\nSIGTERM\nq\x02s."
    doc = safepickle.loads(by_name)
    assert doc["exit_signal"] == "SIGTERM" and doc["exit_signal"].qualname == "signal.Signals"
    call = b"\x80\x02csignal\nsignal\nq\x00K\x0fcsignal\nSIG_DFL\n\x86R."
    with pytest.raises(safepickle.HostileError, match="signal.signal"):
        safepickle.loads(call)
