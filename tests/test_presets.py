"""Presets: every file is complete and loads, values match the published formulas, CLI lists and shows them.

Expected values below are computed by hand from the source's own formula (paper or repository file),
never from lrplan's output.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from conftest import assert_lr_close, require, run_cli
from lrplan import presets
from lrplan.errors import LrplanError
from lrplan.evaluate import lr, lr_at
from lrplan.frameworks.base import ReadOptions
from lrplan.keypoints import total_steps
from lrplan.sources import load

REQUIRED_NAMES = ("gpt3-175b", "llama2-70b", "llama3-405b", "deepseek-llm-67b", "minicpm-wsd",
                  "hagele-2024-cooldown", "chinchilla-70b", "bert-base", "t5-base", "pythia-160m", "olmo2-7b",
                  "nanogpt-gpt2-124m", "megatron-gpt3-175b", "megatron-llama3-8b")
ALL = sorted(presets.all_presets())


def test_at_least_the_required_presets():
    assert len(ALL) >= 12
    assert set(REQUIRED_NAMES) <= set(ALL)


@pytest.mark.parametrize("name", ALL)
def test_preset_file_is_complete_and_loads(name):
    p = presets.get(name)
    assert p.status in presets.STATUSES
    assert p.title and p.source["citation"]
    if p.status == "approximation":
        assert len(p.approximated) > 20
    if p.source["kind"] == "repository":
        assert re.fullmatch(r"[0-9a-f]{40}", p.source["commit"])
    else:
        assert p.source.get("where"), "a paper source names its section or table"
    ld = load(name)
    assert ld.format == "preset" and ld.label == name
    assert ld.schedule.peak_lr == p.peak_lr
    assert total_steps(ld.schedule) > 0
    assert any(p.status in note for note in ld.notes)


def _lr(name: str, k: int) -> float:
    return lr_at(load(name).schedule, k)


# (preset, step, expected LR from the source's formula)
HAND_VALUES = [
    # nanoGPT get_lr: learning_rate * (it + 1) / (warmup_iters + 1) during warmup
    ("nanogpt-gpt2-124m", 0, 6e-4 * 1 / 2001),
    ("nanogpt-gpt2-124m", 1999, 6e-4 * 2000 / 2001),
    ("nanogpt-gpt2-124m", 2000, 6e-4),
    ("nanogpt-gpt2-124m", 301000, 6e-5 + 0.5 * (1 + math.cos(math.pi * 0.5)) * (6e-4 - 6e-5)),
    ("nanogpt-gpt2-124m", 600000, 6e-5),
    # T5: 1 / sqrt(max(n, 10^4))
    ("t5-base", 0, 0.01),
    ("t5-base", 9999, 0.01),
    ("t5-base", 40000, 1 / math.sqrt(40000)),
    ("t5-base", 524287, 1 / math.sqrt(524287)),
    # BERT (google-research/bert optimization.py): warmup k/W, then polynomial_decay from step 0 over 1M
    ("bert-base", 5000, 1e-4 * 5000 / 10000),
    ("bert-base", 10000, 1e-4 * (1 - 10000 / 1e6)),
    ("bert-base", 500000, 1e-4 * 0.5),
    # DeepSeek LLM: peak until 80% of 2T tokens, then x0.316, then 10% after 90%
    ("deepseek-llm-67b", 2000, 3.2e-4),
    ("deepseek-llm-67b", math.ceil(1.6e12 / (6144 * 4096)), 3.2e-4 * 0.316),
    ("deepseek-llm-67b", math.ceil(1.8e12 / (6144 * 4096)), 3.2e-4 * 0.1),
    # Pythia (GPT-NeoX AnnealingLR): start_lr/2 * (cos(pi * (n - W) / 143000) + 1), clamped at min_lr
    ("pythia-160m", 715, 6e-4 * 715 / 1430),
    ("pythia-160m", 1430, 6e-4),
    ("pythia-160m", 1430 + 71500, 6e-4 / 2 * (math.cos(math.pi * 0.5) + 1)),
    ("pythia-160m", 115138, 6e-4 / 2 * (math.cos(math.pi * 113708 / 143000) + 1)),
    ("pythia-160m", 115139, 6e-5),
    ("pythia-160m", 142999, 6e-5),
    # Megatron GPT-3 175B example: warmup .001 x 430000 = 430 iterations, cosine to 6e-6 at 430000
    ("megatron-gpt3-175b", 215, 6e-5 * 215 / 430),
    ("megatron-gpt3-175b", 430, 6e-5),
    ("megatron-gpt3-175b", 450000, 6e-6),
    # Hägele et al.: (1 - sqrt) cooldown over the last 20% of 50k
    ("hagele-2024-cooldown", 45000, 1e-3 * (1 - math.sqrt(0.5))),
]


@pytest.mark.parametrize("name,step,expected", HAND_VALUES)
def test_hand_checked_values(name, step, expected):
    assert _lr(name, step) == pytest.approx(expected, rel=1e-12, abs=1e-18)


def _megatron_lrs(sched_cls, steps, gbs, **kw):
    class _Opt:  # OptimizerParamScheduler only touches param_groups
        param_groups = [{}]

    s = sched_cls(_Opt(), init_lr=0.0, start_wd=0.1, end_wd=0.1, wd_incr_steps=1, wd_incr_style="constant",
                  **kw)
    out = []
    for k in steps:
        s.num_steps = int(k) * gbs  # Megatron counts samples: the LR of iteration k sees k * GBS
        out.append(s.get_lr({}))
    return np.array(out)


@pytest.mark.framework
def test_megatron_gpt3_example_matches_megatron_core():
    m = require("megatron.core.optimizer_param_scheduler")
    G = 1536
    steps = np.concatenate([np.arange(0, 12000), np.arange(12000, 500001, 37)])
    theirs = _megatron_lrs(m.OptimizerParamScheduler, steps, G, max_lr=6e-5, min_lr=6e-6,
                           lr_warmup_steps=int(0.001 * 430000 * G), lr_decay_steps=430000 * G,
                           lr_decay_style="cosine")
    assert_lr_close(lr(load("megatron-gpt3-175b").schedule, steps), theirs, steps=steps)


@pytest.mark.framework
def test_megatron_llama3_example_matches_megatron_core():
    m = require("megatron.core.optimizer_param_scheduler")
    G = 128
    s = load("megatron-llama3-8b").schedule
    n = total_steps(s)
    steps = np.concatenate([np.arange(0, 40000), np.arange(40000, n, 1009), [n - 1]])
    common = dict(lr_warmup_steps=3906252, lr_decay_steps=1949218748, lr_decay_style="cosine")
    theirs = _megatron_lrs(m.OptimizerParamScheduler, steps, G, max_lr=1.5e-4, min_lr=1e-5, **common)
    assert_lr_close(lr(s, steps), theirs, steps=steps)
    group = dict(s.groups)["decoupled"]
    ours = lr(s, steps, curve=group)

    class _Opt:
        param_groups = [{}]

    sch = m.OptimizerParamScheduler(_Opt(), init_lr=0.0, max_lr=1.5e-4, min_lr=1e-5, start_wd=0.1, end_wd=0.1,
                                    wd_incr_steps=1, wd_incr_style="constant", **common)
    theirs_g = []
    for k in steps:
        sch.num_steps = int(k) * G
        theirs_g.append(sch.get_lr({"max_lr": 5e-4, "min_lr": 4.5e-5}))
    assert_lr_close(ours, theirs_g, steps=steps, what="decoupled group lr")


def test_steps_percentage_scales_the_preset():
    full = load("megatron-gpt3-175b").schedule
    same = load("megatron-gpt3-175b", opts=ReadOptions(steps="100%")).schedule
    longer = load("megatron-gpt3-175b", opts=ReadOptions(steps="200%")).schedule
    assert same == full
    assert total_steps(longer) == 1000000 and lr_at(longer, 999999) == 6e-6  # phases in steps stay put
    with pytest.raises(LrplanError, match="no room left"):
        load("megatron-gpt3-175b", opts=ReadOptions(steps="50%"))  # its decay alone is 430k steps
    half = load("hagele-2024-cooldown", opts=ReadOptions(steps="50%")).schedule
    assert total_steps(half) == 25000 and lr_at(half, 22500) == pytest.approx(1e-3 * (1 - math.sqrt(0.5)))
    steps = load("hagele-2024-cooldown", opts=ReadOptions(steps="200%")).schedule
    assert total_steps(steps) == 100000
    assert lr_at(steps, 90000) == pytest.approx(1e-3 * (1 - math.sqrt(0.5)), rel=1e-12)


def test_steps_count_and_lr_override():
    s = load("llama3-405b", opts=ReadOptions(steps="100k", lr=1e-4))
    assert total_steps(s.schedule) == 100000
    assert s.schedule.peak_lr == 1e-4
    assert any("replaces the published peak" in n for n in s.notes)


def test_cli_lists_presets():
    r = run_cli("presets")
    assert r.returncode == 0, r.stderr
    for name in ALL:
        assert name in r.stdout
    assert "as published" in r.stdout and "approximation" in r.stdout


def test_cli_shows_one_preset_with_source():
    r = run_cli("presets", "megatron-llama3-8b")
    assert r.returncode == 0, r.stderr
    assert "examples/llama/train_llama3_8b_h100_fp8.sh" in r.stdout
    assert "779c5b748dbcf00ad9e36d539c576b404ab4abe9" in r.stdout
    assert "status:  as published" in r.stdout
    j = json.loads(run_cli("presets", "gpt3-175b", "--json").stdout)
    assert j["status"] == "approximation" and "ramp-up" in j["approximated"]
    assert j["source"]["where"].startswith("Appendix B")


def test_cli_unknown_preset():
    r = run_cli("presets", "llama3-450b")
    assert r.returncode == 2
    assert "no preset named 'llama3-450b'" in r.stderr and "llama3-405b" in r.stderr


def test_preset_is_a_source_everywhere():
    r = run_cli("plot", "llama3-405b", "deepseek-llm-67b", "--steps", "100%", "--width", "60")
    assert r.returncode == 0, r.stderr
    assert "llama3-405b" in r.stdout and "deepseek-llm-67b" in r.stdout
    r = run_cli("at-step", "40000", "t5-base", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["lr"] == pytest.approx(0.005, rel=1e-12)
    r = run_cli("table", "pythia-160m", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["points"][0]["lr"] == 0.0
