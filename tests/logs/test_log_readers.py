"""Readers of logged LR series against the ground truth of real runs: each logged point, mapped to lrplan's
update k by the reader's step rule, must be the LR update k really used (read right before optimizer.step()).

Runs made fresh on CPU (logruns.py): HF Trainer with TensorBoard, W&B offline and MLflow (GA 1, GA 2, resumed,
resumed without its scheduler state), Lightning CSVLogger + LearningRateMonitor (GA 2), DeepSpeed engine
stdout, a torch loop with SummaryWriter. Committed real logs (tests/fixtures/logs/, README there): transformers
4.50.3 and 5.24.0, Megatron lines from public issues, a W&B SQLite store. The hand-written TensorBoard and
W&B decoders are also checked against the packages' own readers (tensorboard's EventAccumulator, wandb's
generated ``Record`` protobuf class).
"""

from __future__ import annotations

import gzip
import shutil
import struct

import numpy as np
import pytest
from logruns import FIXTURES, runs_fixture, used, wandb_dir  # noqa: F401  (the session's real runs)

from lrplan import logs
from lrplan.errors import LrplanError
from lrplan.logs.series import LogOptions


def _truth(items) -> dict[int, float]:
    """The fixtures' ground truth: [{"update": k, "lr_used": lr, ...}, ...]."""
    return {int(d["update"]): float(d["lr_used"]) for d in items}


def _used_line(path) -> dict[int, float]:
    import json

    return _truth(json.loads(path.read_text().rsplit("USED ", 1)[1].splitlines()[0]))


def _exact(series, truth: dict[int, float], *, float32: bool = False, skip_last_unused: bool = False):
    """Every logged point equals the LR its update used (float32-rounded for TensorBoard's simple_value)."""
    k = series.steps.tolist()
    if skip_last_unused:
        k = [x for x in k if x in truth]
    assert k, "no logged point to compare"
    missing = [x for x in k if x not in truth]
    assert not missing, f"logged updates {missing[:5]} are not updates the run made ({series.rule})"
    got = {int(a): float(b) for a, b in zip(series.steps, series.lr)}
    want = [float(np.float32(truth[x])) if float32 else truth[x] for x in k]
    assert [got[x] for x in k] == want, series.rule
    return k


# ---- HF Trainer: trainer_state.json, TensorBoard, W&B, MLflow ------------------------------------------------

@pytest.mark.parametrize("name", ["ga1", "ga2"])
def test_hf_trainer_every_reporter(runs, name):
    run = runs / "hf" / name
    truth = used(run / "used.json")
    assert sorted(truth) == list(range(16))
    for kind, path, f32 in (("hf", run / "trainer_state.json", False), ("tensorboard", run / "runs", True),
                            ("wandb", wandb_dir(run), False), ("mlflow", run / "mlruns", False)):
        s = logs.read(path)
        assert s.kind == kind and s.framework == "hf", (kind, s.framework)
        assert _exact(s, truth, float32=f32) == list(range(16)), kind
        assert s.offset == -1 and s.logged_step(0) == 1  # global_step 1 shows update 0 (transformers >= 4.51)


def test_hf_resumed_run_reads_both_halves(runs):
    first = used(runs / "hf" / "ga1" / "used.json")
    run = runs / "hf" / "resumed"
    second = used(run / "used.json")
    assert sorted(second) == list(range(10, 16))
    truth = {**{k: v for k, v in first.items() if k < 10}, **second}
    s = logs.read(run / "trainer_state.json")
    assert _exact(s, truth) == list(range(16))  # log_history carries the first half over from the checkpoint
    tb = logs.read(run / "runs", kind="tensorboard")  # this run's own event file: updates 10..19
    assert _exact(tb, truth, float32=True) == list(range(10, 16))


def test_hf_run_dir_is_detected_as_its_kinds(runs):
    kinds = logs.detect(runs / "hf" / "ga1")
    assert kinds[0] == "hf" and {"tensorboard", "mlflow"} <= set(kinds)


def test_hf_transformers_4_50_rule(tmp_path):
    """transformers <= 4.50 logs the next update's LR at global_step g: k = g. The event file says its version
    (model_config text summary); trainer_state.json does not, so --set transformers_version=4.50 gives it."""
    import json

    truth = _truth(json.loads((FIXTURES / "hf" / "lr_check_4.50.3.json").read_text())["used"])
    tb = logs.read(FIXTURES / "tensorboard" / "hf4.50.3_tiny_run.tfevents")
    assert tb.offset == 0 and "4.50.3" in tb.rule
    assert _exact(tb, truth, float32=True, skip_last_unused=True) == list(range(1, 20))
    st = logs.read(FIXTURES / "hf" / "trainer_state_4.50.3.json", opts=LogOptions(extra=(("transformers_version",
                                                                                          "4.50.3"),)))
    assert _exact(st, truth, skip_last_unused=True) == list(range(1, 20))
    assert st.last == 20  # the last entry is lr(T), never used by any update
    new = logs.read(FIXTURES / "tensorboard" / "hf5.24.0_tiny_run.tfevents")
    assert new.offset == -1 and "5.24.0" in new.rule


def test_wandb_and_mlflow_sqlite_fixtures(tmp_path):
    import json

    truth = _truth(json.loads((FIXTURES / "hf" / "lr_check_5.24.0.json").read_text())["used"])
    w = logs.read(FIXTURES / "wandb" / "hf5.24.0_wandb0.31.0_offline.wandb")
    assert w.step_field == "train/global_step" and _exact(w, truth) == list(range(20))
    db = tmp_path / "mlflow.db"
    with gzip.open(FIXTURES / "mlflow" / "mlflow3.17.2_default_sqlite.db.gz") as src, open(db, "wb") as dst:
        shutil.copyfileobj(src, dst)
    m = logs.read(db)
    assert m.kind == "mlflow" and m.framework == "hf" and _exact(m, truth) == list(range(20))


def test_mlflow_file_store_without_params():
    """A copied metrics/ directory (no params/): HF's metric keys alone tell the HF rule."""
    import json

    truth = _truth(json.loads((FIXTURES / "hf" / "lr_check_5.24.0_ga2.json").read_text())["used"])
    root = FIXTURES / "mlflow" / "filestore_mlruns"
    for path in (root, next(root.glob("0/*/metrics/learning_rate"))):
        m = logs.read(path)
        assert (m.kind, m.framework, m.offset) == ("mlflow", "hf", -1) and _exact(m, truth) == list(range(20))


# ---- Lightning, DeepSpeed, a torch loop, Megatron -----------------------------------------------------------

def test_lightning_csvlogger_with_accumulation(runs):
    truth = used(runs / "lightning" / "used.json")
    s = logs.read(runs / "lightning" / "run")
    assert (s.kind, s.tag, s.framework) == ("lightning", "lr-AdamW", "lightning")
    assert _exact(s, truth) == list(range(20))  # GA 2 writes each LR twice: one point per update


@pytest.mark.parametrize("name", ["e1", "e5", "acc2", "pg2", "pg3"])
def test_lightning_fixtures(name):
    truth = used(FIXTURES / "lightning" / name / "used.json")
    s = logs.read(FIXTURES / "lightning" / name / "metrics.csv")
    want = list(range(4, 20, 5)) if name == "e5" else list(range(20))
    assert _exact(s, truth) == want
    if name == "pg3":
        assert s.tag == "lr-AdamW/enc" and "lr-AdamW/head" in s.tags


def test_deepspeed_engine_stdout(runs):
    run = runs / "deepspeed" / "cosine"
    truth = used(run / "used.json")
    s = logs.read(run / "train.log")
    assert (s.kind, s.framework) == ("deepspeed", "deepspeed")
    # step=0 at initialize, then step=S after update S-1; the last (S=16) is the LR no update used
    assert _exact(s, truth, skip_last_unused=True) == list(range(16)) and s.last == 16


@pytest.mark.parametrize("name", ["ga1_spp1", "ga2_spp2"])
def test_deepspeed_fixtures(name):
    truth = _used_line(FIXTURES / "deepspeed" / f"{name}.log")
    s = logs.read(FIXTURES / "deepspeed" / f"{name}.log")
    assert len(_exact(s, truth, skip_last_unused=True)) == (12 if name == "ga1_spp1" else 6)


def test_torch_loop_summary_writer(runs):
    run = runs / "hf" / "torch" / "clean"
    s = logs.read(run)
    assert (s.kind, s.tag, s.offset) == ("tensorboard", "lr", 0)
    assert _exact(s, used(run / "used.json"), float32=True) == list(range(60))


@pytest.mark.parametrize("name", ["const_batch", "rampup"])
def test_megatron_simulated(name):
    """megatron-core's real OptimizerParamScheduler driven in training.py's order (fixtures README)."""
    path = FIXTURES / "megatron" / f"SIMULATED_megatron_log_{name}.log"
    truth = _used_line(path)
    s = logs.read(path)
    assert (s.kind, s.framework, s.precision.digits) == ("megatron", "megatron", 7)
    k = [x for x in s.steps.tolist() if x in truth]
    assert k and k[0] == 1
    planned = np.array([truth[x] for x in k])
    got = s.lr[np.isin(s.steps, k)]
    assert np.array_equal(got, [float(f"{v:.6E}") for v in planned])  # lr(N) as Megatron prints it
    assert (np.abs(got - planned) <= s.precision.tolerance(got)).all()


def test_megatron_public_lines():
    """NVIDIA/Megatron-LM issue #756: '.6E' lines; LR = 2e-7 * iteration (a warmup from 0: lr(N))."""
    s = logs.read(FIXTURES / "megatron_public" / "megatron-lm_issue756_mixtral.log")
    got = dict(zip(s.steps.tolist(), s.lr.tolist()))
    assert got == {43: 8.6e-06, 44: 8.8e-06, 45: 9e-06} and s.precision.digits == 7
    assert s.extra["samples"].tolist() == [5504, 5632, 5760]
    old = logs.read(FIXTURES / "megatron_public" / "megatron-llm_issue11.log")
    assert old.precision.digits == 4  # '.3E' before core_r0.6.0


def test_wandb_panel_csv():
    s = logs.read(FIXTURES / "wandb_csv" / "SYNTHETIC_wandb_ui_panel_export.csv")
    assert (s.kind, s.tag) == ("wandb-csv", "train/learning_rate") and len(s) == 20


# ---- the hand-written decoders against the packages' own readers --------------------------------------------

def _tb_files(runs):
    files = sorted((runs / "hf").glob("**/events.out.tfevents.*"))
    return files + sorted((FIXTURES / "tensorboard").glob("*.tfevents"))


def test_tensorboard_reader_matches_event_accumulator(runs):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from lrplan.logs.tensorboard import read_scalars

    files = _tb_files(runs)
    assert len(files) >= 10
    for f in files:
        acc = EventAccumulator(str(f), size_guidance={"scalars": 0, "tensors": 0}, purge_orphaned_data=False)
        acc.Reload()
        theirs = {}
        for tag in acc.Tags()["scalars"]:
            ev = acc.Scalars(tag)
            theirs[tag] = ([e.step for e in ev], [e.value for e in ev])
        for tag in acc.Tags()["tensors"]:
            ev = acc.Tensors(tag)
            from tensorboard.util import tensor_util

            vals = [tensor_util.make_ndarray(e.tensor_proto) for e in ev]
            if all(v.dtype.kind == "f" and v.size == 1 for v in vals):
                theirs[tag] = ([e.step for e in ev], [float(v.reshape(())) for v in vals])
        sc, _ = read_scalars(f)
        ours = {t: (sc.series(t)[0].tolist(), sc.series(t)[1].tolist()) for t in sc.tags()}
        assert ours == theirs, f.name


def test_wandb_reader_matches_wandb_protobuf(runs):
    from wandb.proto import wandb_internal_pb2

    from lrplan.logs.wandb import _history, records, run_files

    files = [run_files(wandb_dir(runs / "hf" / n))[0] for n in ("ga1", "ga2", "restarted")]
    files += sorted((FIXTURES / "wandb").glob("*.wandb"))
    from lrplan.logs import wire

    for f in files:
        ours, theirs = [], []
        for rec in records(f):
            r = wandb_internal_pb2.Record()
            r.ParseFromString(rec)
            if r.WhichOneof("record_type") == "history":
                import json

                theirs.append({i.key or "/".join(i.nested_key): float(json.loads(i.value_json))
                               for i in r.history.item if isinstance(json.loads(i.value_json), (int, float))})
                span = next(v for num, wt, v in wire.fields(rec, 0, len(rec)) if num == 2)
                row = _history(rec, span)
                ours.append({k: v for k, v in row.items() if k in theirs[-1]})
        assert ours == theirs and len(ours) >= 7, f.name


# ---- bad logs: what is missing, and what there is ------------------------------------------------------------

def _message(fn) -> str:
    with pytest.raises(LrplanError) as e:
        fn()
    return e.value.message + "\n" + (e.value.hint or "")


def test_truncated_event_file(tmp_path):
    src = (FIXTURES / "tensorboard" / "hf5.24.0_tiny_run.tfevents").read_bytes()
    cut = tmp_path / "events.out.tfevents.1.host.1.0"
    cut.write_bytes(src[:-7])  # inside the last record: the whole records before it are read, with a note
    s = logs.read(cut)
    assert any("ends inside a record" in n for n in s.notes) and len(s) >= 19
    head = tmp_path / "events.out.tfevents.2.host.1.0"
    head.write_bytes(src[:60])  # only the file_version record and a part of the next
    msg = _message(lambda: logs.read(head))
    assert "no learning-rate scalar tag" in msg and "no scalar series" in msg
    junk = tmp_path / "events.out.tfevents.3.host.1.0"
    junk.write_bytes(b"\x00" * 40)
    assert "not a TensorBoard event file" in _message(lambda: logs.read(junk, kind="tensorboard"))


def test_missing_tag_names_the_tags(runs):
    msg = _message(lambda: logs.read(runs / "hf" / "ga1" / "runs", opts=LogOptions(tag="train/lr")))
    assert "has no scalar tag named 'train/lr'" in msg
    assert "train/learning_rate" in msg and "train/loss" in msg and "train/grad_norm" in msg


def test_csv_without_lr_column(tmp_path):
    f = tmp_path / "metrics.csv"
    f.write_text("epoch,step,train_loss\n0,4,0.5\n0,9,0.4\n")
    msg = _message(lambda: logs.read(f))
    assert "no learning-rate column" in msg and "epoch, train_loss" in msg


def test_nan_lr(tmp_path):
    f = tmp_path / "metrics.csv"
    f.write_text("lr-AdamW,step\n0.001,0\nnan,1\n0.001,2\n")
    msg = _message(lambda: logs.read(f))
    assert "'lr-AdamW' is nan at step 1" in msg


def test_nan_lr_in_event_file(tmp_path):
    from torch.utils.tensorboard import SummaryWriter

    w = SummaryWriter(str(tmp_path))
    for k, v in enumerate([1e-3, float("nan"), 1e-3]):
        w.add_scalar("lr", v, k)
    w.close()
    assert "'lr' is nan at step 1" in _message(lambda: logs.read(tmp_path))


def test_not_a_log(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("hello\n")
    assert "is not a training log lrplan reads" in _message(lambda: logs.read(f))
    w = tmp_path / "run-x.wandb"
    w.write_bytes(b":W&B" + struct.pack("<H", 0xBEE1) + b"\x00" + b"\x01\x02\x03\x04\x05\x00\x01")
    assert "run-x.wandb has no learning-rate history key" in _message(lambda: logs.read(w))
