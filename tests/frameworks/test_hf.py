"""HF transformers dialect: reader tables, differential tests against the real transformers 5.23.0
schedulers, TrainingArguments and Trainer, the writer's YAML/JSON/Python output run through HF's own
loaders, golden files, hypothesis round trips and CLI transcripts."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lrplan.convert import convert
from lrplan.errors import ExitCode, InexpressibleError, LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks import hf
from lrplan.frameworks.hf import trainer as _trainer  # noqa: F401  (hf.trainer)
from lrplan.frameworks.base import ReadOptions, WriteOptions
from lrplan.frameworks.hf.schedules import build
from lrplan.ir import ONE, ZERO, Curve, Level, Schedule, Segment
from conftest import assert_lr_close, require, run_cli, stepped_lrs

ETA = 3e-4
W, T, N = 1500, 10_000, 10_400  # every differential run covers >= 10k steps, past the end of the run


def _torch_sgd(lr_value: float, groups: int = 1):
    torch = require("torch")
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(groups)]
    return torch.optim.SGD([{"params": [p]} for p in params], lr=lr_value)


def hf_lrs(kind, kwargs, warmup, total, eta=ETA, n=N):
    """LR of updates 0..n-1 from transformers.get_scheduler, stepped as the Trainer does."""
    transformers = require("transformers")
    opt = _torch_sgd(eta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = transformers.get_scheduler(kind, opt, num_warmup_steps=warmup, num_training_steps=total,
                                           scheduler_specific_kwargs=dict(kwargs))
        out = np.empty(n)
        for k in range(n):
            out[k] = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
    return out


# ---- differential: every scheduler type and kwarg combination --------------------------------------

WSD_CASES = [
    ({"num_decay_steps": 3000, "warmup_type": wt, "decay_type": dt, "min_lr_ratio": m}, W)
    for wt in ("linear", "cosine", "1-sqrt") for dt in ("linear", "cosine", "1-sqrt") for m in (0.0, 0.1)
]
CASES = [
    ("linear", {}, W), ("linear", {}, 0), ("linear", {}, 1),
    ("cosine", {}, W), ("cosine", {"num_cycles": 1.5}, W), ("cosine", {}, 0),
    ("cosine_with_restarts", {}, W), ("cosine_with_restarts", {"num_cycles": 3}, W),
    ("cosine_with_restarts", {"num_cycles": 4}, 0),
    ("polynomial", {}, W), ("polynomial", {"lr_end": 1e-5, "power": 2.0}, W),
    ("polynomial", {"lr_end": 0.0, "power": 0.5}, W),
    ("constant", {}, 0), ("constant", {}, W), ("constant_with_warmup", {}, W),
    ("inverse_sqrt", {}, W), ("inverse_sqrt", {}, 0), ("inverse_sqrt", {"timescale": 777}, W),
    ("cosine_with_min_lr", {"min_lr_rate": 0.1}, W), ("cosine_with_min_lr", {"min_lr": 3e-5}, W),
    ("cosine_with_min_lr", {"min_lr_rate": 0.05, "num_cycles": 1.0}, W),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.1}, W),
    ("cosine_warmup_with_min_lr", {"min_lr": 1e-5, "warmup_lr_rate": 0.2}, W),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.0, "warmup_lr_rate": 0.0}, 1),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.1}, 0),
    *[("warmup_stable_decay", kw, w) for kw, w in WSD_CASES],
    ("warmup_stable_decay", {"num_decay_steps": 2000, "num_stable_steps": 4000, "min_lr_ratio": 0.1}, W),
    ("warmup_stable_decay", {"num_decay_steps": 9000, "decay_type": "linear", "min_lr_ratio": 0.2}, W),
    ("warmup_stable_decay", {"num_decay_steps": 3000, "num_cycles": 0.75, "min_lr_ratio": 0.1}, W),
    ("warmup_stable_decay", {"num_decay_steps": 3000}, 0),
]


@pytest.mark.parametrize("kind,kwargs,warmup", CASES, ids=lambda v: str(v))
def test_every_type_matches_get_scheduler(kind, kwargs, warmup):
    ours = lr(build(kind, kwargs, warmup, T, ETA), np.arange(N))
    assert_lr_close(ours, hf_lrs(kind, kwargs, warmup, T), what=f"{kind} {kwargs} W={warmup}")


@pytest.mark.parametrize("text", [
    "--lr_scheduler_type cosine_with_min_lr --lr_scheduler_kwargs '{\"min_lr_rate\": 0.1}' "
    "--warmup_steps 0.03 --max_steps 10000 --learning_rate 3e-4",
    "torchrun --nproc_per_node 8 train.py --model_name_or_path x \\\n  --lr_scheduler_type=warmup_stable_decay "
    "--lr_scheduler_kwargs='{\"num_decay_steps\": 2000, \"decay_type\": \"1-sqrt\"}' --warmup-steps 500 "
    "--max_steps 10000 --learning_rate=3e-4 --bf16",
])
def test_flag_strings_match_get_scheduler(text):
    ld = hf.FORMAT.read(text, None, ReadOptions())
    raw = ld.raw
    kw = json.loads(raw["lr_scheduler_kwargs"])
    wu = 300 if raw.get("warmup_steps") == "0.03" else 500
    assert_lr_close(lr(ld.schedule, np.arange(N)), hf_lrs(raw["lr_scheduler_type"], kw, wu, 10_000))
    assert raw.get("bf16", True) is True


@pytest.mark.parametrize("kind,kwargs,warmup,total", [
    ("polynomial", {"lr_end": 0.0}, 1000, 101_000),
    ("warmup_stable_decay", {"num_decay_steps": 100_000, "decay_type": "linear"}, 1000, 101_000),
    ("warmup_stable_decay", {"num_decay_steps": 1000, "warmup_type": "cosine"}, 20_000, 30_000),
])
def test_long_zero_floor_phases_stay_within_contract(kind, kwargs, warmup, total):
    """HF computes 1 - (k-W)/D and 0.5*(1-cos(pi p)), lrplan the cancellation-free forms: a few steps of
    these 1e5-step phases differ by ~4e-12 relative, but those LRs are ~1e-9, so the absolute 1e-18
    bound of the contract holds (docs/frameworks/hf.md, Known exactness limits)."""
    transformers = require("transformers")
    opt = _torch_sgd(ETA)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lam = transformers.get_scheduler(kind, opt, num_warmup_steps=warmup, num_training_steps=total,
                                         scheduler_specific_kwargs=kwargs).lr_lambdas[0]
    theirs = np.array([ETA * lam(k) for k in range(total)])  # the real lambda, called directly for speed
    assert_lr_close(lr(build(kind, kwargs, warmup, total, ETA), np.arange(total)), theirs)


# ---- reader tables ------------------------------------------------------------------------------

READ_ERRORS = [
    ({"lr_scheduler_type": "cosin", "max_steps": 10}, "unknown lr_scheduler_type 'cosin'", "cosine"),
    ({"lr_scheduler_type": "reduce_lr_on_plateau"}, "driven by an eval metric", None),
    ({"lr_scheduler_type": "greedy"}, "driven by an eval metric", None),
    ({"lr_scheduler_type": "cosine", "max_steps": 10, "lr_scheduler_kwargs": {"num_cycle": 1}},
     "takes no keyword 'num_cycle'", "num_cycles"),
    ({"lr_scheduler_type": "cosine"}, "needs the run length", "--steps"),
    ({"lr_scheduler_type": "constant", "warmup_steps": 0.1}, "needs the run length", "--steps"),
    ({"learning_rate": float("nan"), "max_steps": 10}, "must be a finite number, got float nan", None),
    ({"learning_rate": -1e-4, "max_steps": 10}, "learning_rate cannot be negative", None),
    ({"warmup_steps": -5, "max_steps": 10}, "warmup_steps cannot be negative", None),
    ({"learning_rate": "fast", "max_steps": 10}, "must be a number, got str 'fast'", None),
    ({"lr_scheduler_type": "polynomial", "max_steps": 10, "learning_rate": 1e-7}, "lr_end (1e-07) must be smaller",
     None),
    ({"lr_scheduler_type": "cosine_with_min_lr", "max_steps": 10}, "one of min_lr or min_lr_rate", "min_lr_rate"),
    ({"lr_scheduler_type": "cosine_with_min_lr", "max_steps": 10,
      "lr_scheduler_kwargs": {"min_lr": 1e-6, "min_lr_rate": 0.1}}, "only one of min_lr or min_lr_rate", None),
    ({"lr_scheduler_type": "warmup_stable_decay", "max_steps": 10}, "needs num_decay_steps", "num_decay_steps"),
    ({"lr_scheduler_type": "warmup_stable_decay", "max_steps": 10,
      "lr_scheduler_kwargs": {"num_decay_steps": 5, "decay_type": "cosin"}}, "unknown decay_type 'cosin'", "cosine"),
    ({"lr_scheduler_type": "linear", "max_steps": 10, "warmup_steps": 10}, "not shorter than the run", None),
    ({"lr_scheduler_kwargs": "{min_lr_rate: 0.1}", "max_steps": 10}, "lr_scheduler_kwargs is not valid JSON", None),
]


@pytest.mark.parametrize("fields,message,hint", READ_ERRORS, ids=lambda v: str(v)[:40])
def test_read_errors(fields, message, hint):
    with pytest.raises(LrplanError) as e:
        hf.from_training_args(fields, ReadOptions())
    assert message in e.value.render()
    if hint:
        assert hint in (e.value.hint or "")


def test_defaults_raw_and_step_name():
    ld = hf.from_training_args({"max_steps": 100}, ReadOptions())
    assert ld.raw["_defaults_applied"] == ["learning_rate", "lr_scheduler_type", "lr_scheduler_kwargs",
                                           "warmup_steps", "num_train_epochs", "per_device_train_batch_size",
                                           "gradient_accumulation_steps", "dataloader_drop_last"]
    assert ld.schedule.peak_lr == 5e-5  # HF default learning_rate, linear decay to 0
    assert ld.step_name(0) == ("HF logs this LR at global_step 1 (transformers >= 4.51; "
                               "<= 4.50 logged it at global_step 0)")
    assert any("5e-5" in n for n in ld.notes)


def test_yaml_string_numbers_and_kwargs_json_string():
    text = "learning_rate: 2e-5\nlr_scheduler_type: cosine_with_min_lr\n" \
           "lr_scheduler_kwargs: '{\"min_lr\": 2e-6}'\nmax_steps: 10000\nwarmup_steps: 100\n"
    ld = hf.FORMAT.read(text, None, ReadOptions())
    assert_lr_close(lr(ld.schedule, np.arange(N)), hf_lrs("cosine_with_min_lr", {"min_lr": 2e-6}, 100, 10_000, 2e-5))


@pytest.mark.parametrize("text,score", [
    ("lr_scheduler_type: cosine\nlearning_rate: 1e-4\n", 7),
    ('{"learning_rate": 1e-4, "num_train_epochs": 3}', 5),
    ("--lr_scheduler_type cosine --max_steps 10", 7),
    ('{"train_batch_size": 8, "gradient_accumulation_steps": 1, "scheduler": {"type": "WarmupLR"}}', 0),
    ("--lr 3e-4 --lr-decay-style cosine --train-iters 1000", 0),
    ("warmup=2000,cosine", 0),
])
def test_detect(text, score):
    assert hf.FORMAT.detect(text, None) == score


# ---- T and W against the real TrainingArguments / Trainer ------------------------------------------


@pytest.mark.parametrize("ws", [0, 1, 1.0, 1.9, 250, 0.03, 0.1, 0.5, 0.999, 0.0001])
@pytest.mark.parametrize("total", [7, 333, 1000, 100_000])
def test_warmup_rule_matches_training_arguments(ws, total, tmp_path):
    transformers = require("transformers")
    args = transformers.TrainingArguments(output_dir=str(tmp_path), warmup_steps=ws, report_to=[])
    vals, _ = hf.trainer.normalise({"warmup_steps": ws})
    assert hf.trainer.warmup_steps(vals, total, []) == args.get_warmup_steps(total)


def test_warmup_ratio_4x_rule():
    notes = []
    vals, _ = hf.trainer.normalise({"warmup_ratio": 0.07})
    assert hf.trainer.warmup_steps(vals, 100, notes) == 8  # 4.x: ceil(100 * 0.07) = ceil(7.000000000000001)
    vals, _ = hf.trainer.normalise({"warmup_ratio": 0.03, "warmup_steps": 10})
    assert hf.trainer.warmup_steps(vals, 1000, notes) == 10 and "warmup_steps wins" in notes[-1]


TRAINER_T_CASES = [  # (dataset size, batch, accumulation, epochs, drop_last)
    (40, 2, 3, 1.5, False), (41, 3, 1, 3.0, False), (7, 2, 4, 0.3, False), (41, 4, 2, 2.0, True),
    (100, 8, 5, 1.0, False), (9, 8, 1, 2.5, True),
]


@pytest.fixture(scope="module")
def tiny_model():
    require("transformers")
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    return GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=2, n_head=2, n_positions=16))


def _data(n):
    import torch

    g = torch.Generator().manual_seed(0)
    return [{"input_ids": torch.randint(0, 64, (8,), generator=g), "labels": torch.randint(0, 64, (8,), generator=g)}
            for _ in range(n)]


def _args(tmp_path, **kw):
    transformers = require("transformers")
    base = dict(output_dir=str(tmp_path), report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True)
    return transformers.TrainingArguments(**base, **kw)


@pytest.mark.parametrize("n,bs,G,epochs,drop", TRAINER_T_CASES)
def test_total_from_epochs_matches_trainer(n, bs, G, epochs, drop, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = require("transformers")
    args = _args(tmp_path, per_device_train_batch_size=bs, gradient_accumulation_steps=G, num_train_epochs=epochs,
                 dataloader_drop_last=drop)
    trainer = transformers.Trainer(model=tiny_model, args=args, train_dataset=_data(n))
    expected = trainer.set_initial_training_values(args, trainer.get_train_dataloader())[-1]
    fields = {"per_device_train_batch_size": bs, "gradient_accumulation_steps": G, "num_train_epochs": epochs,
              "dataloader_drop_last": drop}
    ld = hf.from_training_args(fields, ReadOptions(extra=(("dataset_size", str(n)),)))
    assert ld.schedule.total == expected


def test_world_size_shards_the_dataloader():
    fields = {"per_device_train_batch_size": 4, "gradient_accumulation_steps": 2, "num_train_epochs": 1}
    ld = hf.from_training_args(fields, ReadOptions(extra=(("dataset_size", "1000"), ("world_size", "8"))))
    assert ld.schedule.total == 16  # 250 batches -> ceil(250 / 8) = 32 per process -> 16 updates


# ---- a real Trainer run: log_history LRs ----------------------------------------------------------

TRAINER_RUNS = [
    {"lr_scheduler_type": "cosine", "warmup_steps": 3},
    {"lr_scheduler_type": "warmup_stable_decay", "warmup_steps": 0.25,
     "lr_scheduler_kwargs": {"num_decay_steps": 4, "decay_type": "1-sqrt", "min_lr_ratio": 0.1}},
    {"lr_scheduler_type": "cosine_warmup_with_min_lr", "warmup_steps": 2, "lr_scheduler_kwargs": '{"min_lr": 1e-4}'},
]


@pytest.mark.parametrize("fields", TRAINER_RUNS, ids=lambda f: f["lr_scheduler_type"])
def test_tiny_trainer_run_log_history(fields, tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = require("transformers")
    fields = dict(fields, learning_rate=1e-3, max_steps=8, per_device_train_batch_size=2)
    args = _args(tmp_path, logging_steps=1, **fields)
    trainer = transformers.Trainer(model=tiny_model, args=args, train_dataset=_data(40))
    trainer.train()
    logged = [(h["step"], h["learning_rate"]) for h in trainer.state.log_history if "learning_rate" in h]
    assert [s for s, _ in logged] == list(range(1, 9))
    ld = hf.from_training_args(fields, ReadOptions())
    # >= 4.51: the entry at global_step g is the LR update g - 1 used.
    assert_lr_close(lr(ld.schedule, np.array([s - 1 for s, _ in logged])), [v for _, v in logged])


# ---- DeepSpeed config inside the recipe -------------------------------------------------------------

DS_CONFIG = {
    "train_micro_batch_size_per_gpu": "auto",
    "optimizer": {"type": "AdamW", "params": {"lr": "auto"}},
    "scheduler": {"type": "WarmupDecayLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                                                      "warmup_num_steps": "auto", "total_num_steps": "auto"}},
}


def test_deepspeed_scheduler_wins_with_hf_auto_values(tmp_path):
    transformers = require("transformers")
    import lrplan.frameworks.deepspeed as ds_mod
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    (tmp_path / "ds.json").write_text(json.dumps(DS_CONFIG))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("learning_rate: 2.0e-4\nlr_scheduler_type: cosine\nwarmup_steps: 0.05\n"
                      "max_steps: 10000\ndeepspeed: ds.json\n")
    ld = hf.FORMAT.read(recipe.read_text(), recipe, ReadOptions())
    # HF's own filling of "auto" (the Trainer's path), then lrplan's DeepSpeed reader on the result.
    args = transformers.TrainingArguments(output_dir=str(tmp_path), learning_rate=2e-4, warmup_steps=0.05,
                                          max_steps=10_000, report_to=[])
    hf_ds = HfTrainerDeepSpeedConfig(json.loads(json.dumps(DS_CONFIG)))
    hf_ds.trainer_config_process(args)
    hf_ds.trainer_config_finalize(args, None, 10_000)
    expected = ds_mod.from_config(hf_ds.config, ReadOptions())
    assert_lr_close(lr(ld.schedule, np.arange(N)), lr(expected.schedule, np.arange(N)))
    assert any("wins over lr_scheduler_type 'cosine'" in n for n in ld.notes)


def test_deepspeed_value_mismatch_is_an_error():
    ds = json.loads(json.dumps(DS_CONFIG))
    ds["scheduler"]["params"]["warmup_max_lr"] = 1e-3
    with pytest.raises(LrplanError) as e:
        hf.from_training_args({"learning_rate": 2e-4, "max_steps": 100, "deepspeed": ds}, ReadOptions())
    assert e.value.where == "scheduler.params.warmup_max_lr" and "disagrees" in e.value.message


def test_deepspeed_without_scheduler_keeps_hf_schedule():
    ld = hf.from_training_args({"max_steps": 100, "lr_scheduler_type": "cosine",
                                "deepspeed": {"optimizer": {"type": "AdamW", "params": {"lr": "auto"}}}},
                               ReadOptions())
    assert ld.schedule == build("cosine", {}, 0, 100, 5e-5)
    assert any("no scheduler" in n for n in ld.notes)


# ---- writer ------------------------------------------------------------------------------------------

SPEC_CASES = {  # spec source -> expected HF type
    "cosine_min": ("warmup=1500,cosine,min=0.1", "cosine_with_min_lr"),
    "cosine": ("warmup=1500,cosine", "cosine"),
    "linear": ("warmup=1500,linear", "linear"),
    "wsd_1sqrt": ("warmup=1500,1-sqrt", "warmup_stable_decay"),
}


def _spec(text, steps="10000", peak=ETA):
    from lrplan.spec import parse_spec

    return parse_spec(text, steps=steps, lr=peak)


def _write(schedule, variant=None, approx=False):
    return convert(schedule, "hf", WriteOptions(approx=approx, source_label="test", variant=variant,
                                                  version="0.0.test"))


def _trainer_lrs(args, n=N):
    """What the Trainer builds from parsed TrainingArguments: W from get_warmup_steps, T = max_steps."""
    transformers = require("transformers")
    opt = _torch_sgd(args.learning_rate)
    sched = transformers.get_scheduler(args.lr_scheduler_type, opt, num_warmup_steps=args.get_warmup_steps(args.max_steps),
                                       num_training_steps=args.max_steps,
                                       scheduler_specific_kwargs=args.lr_scheduler_kwargs or {})
    return stepped_lrs(opt, sched, n)


@pytest.mark.parametrize("case", sorted(SPEC_CASES))
@pytest.mark.parametrize("variant", ["yaml", "json"])
def test_emitted_config_loaded_by_hf_argument_parser(case, variant, tmp_path, golden):
    transformers = require("transformers")
    spec, kind = SPEC_CASES[case]
    schedule = _spec(spec)
    written = _write(schedule, variant)
    golden(f"hf/{case}.{variant}", written.text)
    path = tmp_path / f"args.{variant}"
    path.write_text(written.text)
    parser = transformers.HfArgumentParser(transformers.TrainingArguments)
    (args,) = parser.parse_yaml_file(str(path)) if variant == "yaml" else parser.parse_json_file(str(path))
    assert args.lr_scheduler_type == kind
    assert_lr_close(lr(schedule, np.arange(10_000)), _trainer_lrs(args, 10_000))


def test_python_fallback_is_executed(golden):
    torch = require("torch")
    schedule = Schedule(Curve((Segment("linear", 0, 500, ZERO, ONE), Segment("exp", 500, 9000, ONE, Level(0.05),
                                                                           (("rate", 0.5), ("every", 2000.0)))),
                              "hold"), peak_lr=ETA, total=10_000.0)
    with pytest.raises(InexpressibleError) as e:
        _write(schedule, "yaml")
    assert "--variant python" in e.value.hint
    written = _write(schedule)  # automatic fallback
    golden("hf/exp_python.py", written.text)
    assert written.text.startswith("# Generated by lrplan 0.0.test for HF Trainer from: test\n# Python, not")
    ns: dict = {}
    exec(compile(written.text, "emitted.py", "exec"), ns)
    opt, sched = ns["build_optimizer_and_scheduler"](torch.nn.Linear(2, 2))
    got = np.empty(N)
    for k in range(N):
        got[k] = opt.param_groups[0]["lr"]
        opt.step()
        sched.step()
    assert ns["MAX_STEPS"] == 10_000
    assert_lr_close(lr(schedule, np.arange(N)), got)


def test_approx_reports_deviation():
    schedule = _spec("warmup=1500,cosine,min=0.1")
    bent = schedule.with_(lr=Curve((schedule.lr.segments[0], Segment("cosine", 1500, 10_000, ONE, Level(0.1),
                                                                         (("cycles", 0.5), ("exponent", 2.0))))))
    with pytest.raises(InexpressibleError):
        _write(bent, "yaml")
    written = _write(bent, "yaml", approx=True)
    back = hf.FORMAT.read(written.text, None, ReadOptions()).schedule
    diff = np.abs(lr(bent, np.arange(10_000)) - lr(back, np.arange(10_000)))
    assert (written.deviation.lr.worst, written.deviation.lr.worst_step) == (float(diff.max()), int(diff.argmax()))
    assert written.deviation.lr.worst > 1e-6


def test_writer_refuses_what_it_cannot_say():
    with pytest.raises(LrplanError, match="no peak LR"):
        _write(_spec("warmup=100,cosine", peak=None))
    with pytest.raises(LrplanError, match="unknown --variant"):
        _write(_spec("warmup=100,cosine"), "toml")


# ---- hypothesis: IR (as HF can express it) -> YAML -> IR ---------------------------------------------

TYPE_KWARGS = st.sampled_from([
    ("linear", {}), ("cosine", {}), ("cosine", {"num_cycles": 1.0}), ("cosine_with_min_lr", {"min_lr_rate": 0.1}),
    ("polynomial", {"lr_end": 1e-6, "power": 2.0}), ("constant_with_warmup", {}), ("inverse_sqrt", {}),
    ("cosine_warmup_with_min_lr", {"min_lr_rate": 0.05}), ("cosine_with_restarts", {"num_cycles": 2}),
    ("warmup_stable_decay", {"num_decay_steps": 100, "decay_type": "1-sqrt", "min_lr_ratio": 0.1}),
])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tk=TYPE_KWARGS, warmup=st.integers(0, 400), total=st.integers(500, 4000),
       peak=st.sampled_from([1e-4, 3e-4, 6e-4, 2e-5]))
def test_round_trip_through_yaml_and_json(tk, warmup, total, peak):
    kind, kw = tk
    schedule = build(kind, kw, warmup, total, peak)
    steps = np.arange(total)
    for variant in ("yaml", "json"):
        back = hf.FORMAT.read(_write(schedule, variant).text, None, ReadOptions()).schedule
        assert_lr_close(lr(back, steps), lr(schedule, steps), what=variant)


# ---- CLI ------------------------------------------------------------------------------------------


def test_cli_at_step_yaml(tmp_path):
    path = tmp_path / "recipe.yaml"
    path.write_text("learning_rate: 2e-5\nlr_scheduler_type: cosine\nwarmup_ratio: 0.07\nmax_steps: 100\n")
    r = run_cli("at-step", "5", str(path), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["step"] == 5 and out["lr"] == 2e-5 * (5 / 8)  # W = ceil(100 * 0.07) = 8
    assert "global_step 6" in out["framework_step"]
    r = run_cli("at-step", "5", str(path))
    assert "4.x rule" in r.stderr


def test_cli_flags_and_epochs():
    r = run_cli("at-step", "0", "--set", "dataset_size=1000", "--",
                "--lr_scheduler_type constant_with_warmup --warmup_steps 0.1 --learning_rate 1e-4 --num_train_epochs 2")
    assert r.returncode == 0, r.stderr
    assert "T = ceil(num_train_epochs 2.0 x 125 updates/epoch) = 250" in r.stderr


def test_cli_errors(tmp_path):
    r = run_cli("at-step", "5", "--lr_scheduler_type reduce_lr_on_plateau --learning_rate 1e-4")
    assert r.returncode == ExitCode.USAGE
    assert r.stderr.startswith("error: lr_scheduler_type: lr_scheduler_type 'reduce_lr_on_plateau' is driven")
    from lrplan import irjson

    ir = tmp_path / "exp.json"
    ir.write_text(irjson.dumps(Schedule(Curve((Segment("exp", 0, 900, ONE, ZERO, (("every", 100.0),)),)),
                                        peak_lr=1e-4, total=1000.0)))
    r = run_cli("convert", str(ir), "--to", "hf", "--variant", "json")
    assert r.returncode == ExitCode.INEXPRESSIBLE
    assert "HF Transformers cannot express this schedule exactly: no lr_scheduler_type reproduces it" in r.stderr and "--variant python" in r.stderr


def test_cli_convert_yaml():
    r = run_cli("convert", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4", "--to", "hf")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("# Generated by lrplan")
    assert "lr_scheduler_type: cosine_with_min_lr" in r.stdout and "warmup_steps: 2000" in r.stdout


def test_python_snippet_drives_a_real_trainer(tmp_path, tiny_model, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    transformers = require("transformers")
    schedule = Schedule(Curve((Segment("linear", 0, 2, Level(0.1), ONE),
                               Segment("exp", 2, 8, ONE, ZERO, (("rate", 0.5), ("every", 3.0))))),
                        peak_lr=1e-3, total=8.0)
    written = _write(schedule)
    assert "Python, not TrainingArguments fields" in written.text
    ns: dict = {}
    exec(compile(written.text, "emitted.py", "exec"), ns)
    opt, sched = ns["build_optimizer_and_scheduler"](tiny_model)
    args = _args(tmp_path, logging_steps=1, max_steps=ns["MAX_STEPS"], per_device_train_batch_size=2)
    trainer = transformers.Trainer(model=tiny_model, args=args, train_dataset=_data(40), optimizers=(opt, sched))
    trainer.train()
    logged = [(h["step"], h["learning_rate"]) for h in trainer.state.log_history if "learning_rate" in h]
    assert [s for s, _ in logged] == list(range(1, 9))
    assert_lr_close(lr(schedule, np.array([s - 1 for s, _ in logged])), [v for _, v in logged])
