"""Megatron ``args`` of the wrong type (as an unpickled checkpoint Namespace may hold them) end in an
LrplanError naming the flag, raised by megatron_args.check_types before any arithmetic; never a TypeError,
a NaN schedule or a generic "value lrplan cannot use" from the checkpoint boundary.
"""

from __future__ import annotations

import math
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lrplan.errors import LrplanError
from lrplan.evaluate import lr
from lrplan.frameworks.megatron import from_args
from conftest import run_cli

GOOD = {"lr": 3e-4, "min_lr": 3e-5, "train_iters": 100, "lr_warmup_iters": 10, "lr_decay_style": "cosine",
        "global_batch_size": 8}
MEGATRON_FILE = (Path(__file__).parents[1] / "fixtures/checkpoints/megatron/legacy/iter_0000010/mp_rank_00"
                 / "model_optim_rng.pt")

BAD = [
    ("lr", "3e-4", "--lr", "must be a number, got"),
    ("lr", [3e-4], "--lr", "must be a number, got"),
    ("lr", math.nan, "--lr", "finite number"),
    ("lr", math.inf, "--lr", "finite number"),
    ("lr", True, "--lr", "must be a number, got"),
    ("lr", 10**400, "--lr", "finite number"),
    ("min_lr", "0", "--min-lr", "must be a number, got"),
    ("train_iters", math.nan, "--train-iters", "integer"),
    ("train_iters", 100.0, "--train-iters", "integer"),
    ("train_iters", "100", "--train-iters", "integer"),
    ("train_iters", 2**70, "--train-iters", "out of range"),
    ("lr_warmup_iters", False, "--lr-warmup-iters", "integer"),
    ("global_batch_size", 8.5, "--global-batch-size", "integer"),
    ("lr_decay_style", 3, "--lr-decay-style", "string"),
    ("lr_decay_style", "cosin", "--lr-decay-style", "invalid choice"),
    ("lr_warmup_fraction", "0.1", "--lr-warmup-fraction", "must be a number, got"),
    ("weight_decay", math.nan, "--weight-decay", "finite number"),
    ("override_opt_param_scheduler", "yes", "--override-opt_param-scheduler", "true or false"),
    ("iterations_to_skip", 5, "--iterations-to-skip", "list of integers"),
    ("iterations_to_skip", [1, "x"], "--iterations-to-skip", "integer"),
]


@pytest.mark.parametrize("dest,value,flag,words", BAD, ids=[f"{d}={v!r}"[:40] for d, v, _, _ in BAD])
def test_wrong_type_names_the_flag(dest, value, flag, words):
    with pytest.raises(LrplanError) as e:
        from_args({**GOOD, dest: value})
    assert e.value.where == flag and words in e.value.message, (e.value.where, e.value.message)


def test_good_args_still_read():
    ld = from_args(GOOD)
    assert ld.schedule.peak_lr == 3e-4 and lr(ld.schedule, np.array([10]))[0] == pytest.approx(3e-4, rel=1e-12)


SAMPLE_MODE = {"lr": 3e-4, "train_samples": 2000, "lr_warmup_samples": 200, "lr_decay_style": "linear",
               "global_batch_size": 16}


def test_rampup_strings_as_old_megatron_stored_them():
    """Before core_v0.13 --rampup-batch-size was nargs='*' without a type: a checkpoint holds strings,
    which the microbatch calculator int()-casts; they give the same schedule as ints."""
    as_str = from_args({**SAMPLE_MODE, "rampup_batch_size": ["4", "4", "480"]})
    as_int = from_args({**SAMPLE_MODE, "rampup_batch_size": [4, 4, 480]})
    k = np.arange(200)
    assert np.array_equal(lr(as_str.schedule, k), lr(as_int.schedule, k))


@pytest.mark.parametrize("value,words", [(["4", "x", "480"], "integer"), ([4, 4], "3 values"),
                                         (["4", "4", 4.5], "integer"), ("4 4 480", "list of integers")])
def test_rampup_bad(value, words):
    with pytest.raises(LrplanError) as e:
        from_args({**SAMPLE_MODE, "rampup_batch_size": value})
    assert e.value.where == "--rampup-batch-size" and words in e.value.message


def _megatron_ckpt(tmp_path: Path, **args) -> Path:
    from lrplan.checkpoints import safepickle

    state = safepickle.plain(safepickle.load_file(MEGATRON_FILE))
    state["args"].update(args)
    d = tmp_path / "iter_0000010" / "mp_rank_00"
    d.mkdir(parents=True)
    with zipfile.ZipFile(d / "model_optim_rng.pt", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(state, protocol=2))
    return tmp_path / "iter_0000010"


@pytest.mark.parametrize("args,flag", [({"lr": "0.0003"}, "--lr"), ({"train_iters": math.nan}, "--train-iters"),
                                       ({"lr": [3e-4]}, "--lr"), ({"min_lr": math.inf}, "--min-lr")])
def test_checkpoint_args_of_wrong_type(tmp_path, args, flag):
    r = run_cli("inspect", str(_megatron_ckpt(tmp_path, **args)))
    assert r.returncode == 2, r.stdout + r.stderr
    assert flag in r.stderr and "Traceback" not in r.stderr
    assert "cannot use" not in r.stderr  # the flag-specific message, not the checkpoint boundary's fallback

