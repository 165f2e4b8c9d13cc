"""explain: phases in words with lengths in steps, tokens and percent, peak and floor, conventions, key points."""

from __future__ import annotations

import json

from conftest import run_cli
from lrplan.explain import as_dict, as_text, explain
from lrplan.frameworks.base import ReadOptions
from lrplan.sources import load


def _ex(src, **opts):
    return explain(load(src, opts=ReadOptions(**opts)))


def test_phases_steps_percent_peak_floor():
    ex = _ex("warmup=2000,cosine,min=0.1", steps="100k", lr=3e-4)
    w, c = ex.phases
    assert (w.name, w.first_step, w.end_step, w.steps, w.percent) == ("warmup", 0, 2000, 2000, 2.0)
    assert (c.name, c.first_step, c.steps, c.percent) == ("cosine", 2000, 98000, 98.0)
    assert w.words == "goes linearly from 0 (0% of peak) to 0.0003 (100% of peak)"
    assert c.words == "follows a cosine from 0.0003 (100% of peak) to 3e-05 (10% of peak)"
    text = as_text(ex)
    assert "The run has 100,000 optimizer steps." in text
    assert "Peak LR 0.0003." in text
    assert "Floor: the last step (step 99,999) uses 3e-05 (10% of peak)." in text
    assert "1. warmup, steps 0-1,999 (2,000 steps, 2% of the run)" in text
    assert "The first update (step 0) runs at LR 0" in text


def test_tokens_per_phase():
    ex = _ex("gbs=512,seq=2048,warmup=2000,constant,1-sqrt=20%", steps="100k", lr=1e-3)
    assert [p.tokens for p in ex.phases] == [2000 * 512 * 2048.0, 78000 * 512 * 2048.0, 20000 * 512 * 2048.0]
    assert "2.097B tokens" in as_text(ex)
    assert "The run has 100,000 optimizer steps (51.2M samples, 104.9B tokens)." in as_text(ex)


def test_multiplier_without_peak():
    text = as_text(_ex("warmup=10,linear", steps="100"))
    assert "values are multipliers of the peak" in text
    assert "goes linearly from 1 x peak to 0 x peak" in text


def test_sample_axis_rampup_and_groups():
    text = as_text(_ex("megatron-llama3-8b"))
    assert "The schedule counts samples, not steps" in text
    assert "Parameter group 'decoupled' has its own curve (absolute LRs) ending at 4.5e-05." in text
    text = as_text(_ex("axis=samples,gbs=1024,rampup=32:32:1M,warmup=1M,cosine,total=100M", lr=3e-4))
    assert "The global batch ramps up from 32 by 32 over 1M samples to 1024." in text


def test_reader_notes_and_log_warmup(tmp_path):
    cfg = {"optimizer": {"type": "AdamW", "params": {"lr": 3e-4}},
           "scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 100}}}
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(cfg))
    ex = explain(load(str(path), opts=ReadOptions(steps="1000")))
    assert ex.format == "deepspeed"
    assert any("warmup_type defaults to log" in c for c in ex.conventions)  # the reader's own note
    assert not any(c.startswith("The warmup is log-shaped") for c in ex.conventions)  # said once, by the reader
    assert len([c for c in ex.conventions if "log" in c]) == 1
    assert as_text(ex).startswith(str(path))


def test_shifted_formula_and_after_end():
    ex = _ex("pythia-160m")
    assert "its formula counts from position 1.43k over 143k" in ex.phases[1].words
    ex = _ex("warmup=100,cosine=900", steps="2000", lr=1e-3)
    assert any("After the last phase ends (step 1,000) the LR holds its final value." == c for c in ex.conventions)


def test_json_shape():
    d = as_dict(_ex("warmup=2000,cosine,min=0.1", steps="100k", lr=3e-4))
    assert d["format"] == "spec" and len(d["phases"]) == 2 and d["phases"][0]["steps"] == 2000


def test_cli_text_and_json():
    r = run_cli("explain", "warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4")
    assert r.returncode == 0, r.stderr
    assert "Phases:" in r.stdout and "Key points:" in r.stdout and "last warmup step" in r.stdout
    r = run_cli("explain", "t5-base", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["points"][0] == {"step": 0, "lr": 0.01, "phase": "constant", "note": "start"}
    assert "decays as 1/sqrt" in doc["phases"][1]["words"]


def test_cli_megatron_flags():
    flags = ("--lr 3e-4 --min-lr 3e-5 --lr-decay-style WSD --lr-wsd-decay-iters 2000 --lr-warmup-iters 500"
             " --train-iters 20000 --global-batch-size 256")
    r = run_cli("explain", flags)
    assert r.returncode == 0, r.stderr
    assert "Read from Megatron-LM." in r.stdout
    assert "The run has 20,000 optimizer steps" in r.stdout
    assert "Megatron logs this LR at iteration" in r.stdout  # the key-point table names Megatron's steps


def test_cli_bad_source():
    r = run_cli("explain", "warmup=2000,cosine,min=2")
    assert r.returncode == 2 and "above the peak" in r.stderr
