"""`lrplan diff`: alignment, the summary figures, exit codes, files.

Expected figures are hand-computed from the schedules' definitions (design.md), never copied from
lrplan's own output.
"""

from __future__ import annotations

import json
import math

import pytest
from conftest import run_cli

import lrplan.diff as D
from lrplan.errors import LrplanError
from lrplan.frameworks.base import ReadOptions
from lrplan.ir import ONE, Axis, ConstantBatch, Curve, Level, Schedule, Segment
from lrplan.sources import load

SPEC = "warmup=2000,cosine,min=0.1"


def sched(spec: str, steps: str | None = "100k", lr: float | None = 3e-4) -> Schedule:
    return load(spec, opts=ReadOptions(steps=steps, lr=lr)).schedule


def cosine(k: float, n: int, w: int = 2000, floor: float = 0.1) -> float:
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * (k - w) / (n - w)))


def with_blip(n: int, at: int, level: float) -> Schedule:
    """warmup=2000,cosine,min=0.1 over n steps, except that step ``at`` alone uses ``level``."""
    warm = Segment("linear", 0.0, 2000.0, Level(0.0), ONE, label="warmup")

    def cos(a, b):
        return Segment("cosine", float(a), float(b), ONE, Level(0.1), origin=2000.0, span=float(n - 2000))

    blip = Segment("constant", float(at), at + 1.0, Level(level), Level(level), label="blip")
    return Schedule(Curve((warm, cos(2000, at), blip, cos(at + 1, n))), peak_lr=3e-4, total=float(n))


# ---- the library -----------------------------------------------------------------------------


def test_a_single_different_step_is_found_in_a_long_run():
    n, at = 3_000_000, 2_345_678  # past the first chunk: chunks must not hide it
    a, b = sched(SPEC, str(n)), with_blip(n, at, 0.5)
    al, r = D.compare(a, b)
    assert al.unit == "steps" and r.exhaustive and r.compared == n + 1
    assert r.differing == 1
    assert r.first_divergence.step_a == r.last_divergence.step_a == r.max_abs.step_a == at
    assert r.max_abs.a == pytest.approx(3e-4 * cosine(at, n), rel=1e-12)
    assert r.max_abs.b == pytest.approx(1.5e-4, rel=1e-15)
    assert r.last_agreement.step_a == n  # after the end both hold 0.1 * peak
    assert not r.equal


def test_equal_schedules_from_two_formats(tmp_path):
    plan = tmp_path / "plan.json"
    r = run_cli("convert", SPEC, "--steps", "100k", "--lr", "3e-4", "--to", "json", "-o", str(plan))
    assert r.returncode == 0, r.stderr
    r = run_cli("diff", SPEC, str(plan), "--steps", "100k", "--lr", "3e-4", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["equal"] is True and doc["differing"] == 0 and doc["first_divergence"] is None
    assert doc["compared"] == 100_001 and doc["exhaustive"] is True and doc["axis"] == "steps"
    assert doc["area_ratio"] == 1.0
    assert doc["last_agreement"]["step"] == 100_000


def test_summary_figures_for_two_known_curves():
    # A: cosine to 0.1; B: constant then 1-sqrt to 0 over the last 20% (Hägele et al. 2024).
    al, r = D.compare(sched(SPEC), sched("warmup=2000,constant,1-sqrt=20%"))
    assert r.first_divergence.step_a == 2001  # the cosine leaves the peak at the step after 2000
    assert r.last_agreement.step_a == 2000
    assert r.max_abs.step_a == 80_000  # the cosine at the start of B's cooldown, B still at the peak
    assert abs(r.max_abs.a - r.max_abs.b) == pytest.approx(3e-4 * (1 - cosine(80_000, 100_000)), rel=1e-12)
    assert r.max_rel.step_a == 100_000 and r.max_rel_value == 1.0  # B is 0 after its end, A 0.1 * peak
    warm = sum(k / 2000 for k in range(2000))
    area_a = warm + sum(cosine(k, 100_000) for k in range(2000, 100_000)) + 0.1
    area_b = warm + 78_000 + sum(1 - math.sqrt((k - 80_000) / 20_000) for k in range(80_000, 100_000))
    assert r.area_ratio == pytest.approx(area_a / area_b, rel=1e-9)
    rows = {p["step"]: p for p in r.key_points}
    assert rows[79_999]["note"] == "B: last constant step" and rows[80_000]["note"] == "B: 1-sqrt starts"
    assert rows[50_000]["note"] == "A: 50%; B: 50%"
    assert rows[50_000]["b"] == pytest.approx(3e-4, rel=1e-15)


def test_a_one_step_lag_is_named():
    # B counts its warmup one step late, as DeepSpeed's engine does: B(k) = A(k - 1) during warmup.
    a = sched(SPEC, "10k")
    late = Segment("linear", 0.0, 2000.0, Level(0.0), ONE, origin=1.0, label="warmup")
    b = Schedule(Curve((late,) + a.lr.segments[1:]), peak_lr=3e-4, total=10_000.0)
    _, r = D.compare(a, b)
    assert r.differing == 1999 and r.first_divergence.step_a == 1 and r.last_divergence.step_a == 1999
    assert r.first_divergence.b == 0.0 and r.last_divergence.b == pytest.approx(3e-4 * 1998 / 2000, rel=1e-15)
    assert any(n.startswith("B lags A by one step") for n in r.notes)
    _, r = D.compare(b, a)
    assert any(n.startswith("A lags B by one step") for n in r.notes)
    _, r = D.compare(sched(SPEC, "10k"), with_blip(10_000, 5000, 0.5))
    assert not any("lags" in n for n in r.notes)


def test_tolerance_decides():
    a, b = sched(SPEC), sched(SPEC, lr=3e-4 * (1 + 1e-9))
    assert not D.compare(a, b)[1].equal
    assert D.compare(a, b, D.tolerance(1e-8))[1].equal
    with pytest.raises(LrplanError, match="--tolerance must be a non-negative number"):
        D.tolerance(float("nan"))


def test_different_batch_sizes_are_compared_by_tokens():
    a = sched("warmup=100,cosine,min=0.1,gbs=32,seq=1024", "10k")
    b = sched("warmup=100,cosine,min=0.1,gbs=64,seq=1024", "10k")
    al, r = D.compare(a, b)
    assert al.unit == "tokens"
    assert al.x_max == 10_000 * 64 * 1024  # B's run is the longer one in tokens
    # At token 32768 A starts its step 1 (32 x 1024 tokens per step), B is still in its step 0.
    fd = r.first_divergence
    assert (fd.x, fd.step_a, fd.step_b) == (32_768.0, 1, 0)
    assert fd.a == pytest.approx(3e-4 / 100, rel=1e-15) and fd.b == 0.0
    assert any("compared by tokens consumed" in n for n in r.notes)
    # Every update start of either run is a point: 20000 of A (+1 after its end) and 10000 of B share 10001.
    assert r.compared == 20_001 and r.exhaustive


def test_same_batch_sizes_stay_on_steps():
    a = sched("warmup=100,cosine,min=0.1,gbs=32,seq=1024", "10k")
    al, r = D.compare(a, a)
    assert al.unit == "steps" and r.equal


def test_samples_to_steps_mapping_is_the_inverse_of_positions():
    ax = Axis("samples", ConstantBatch(48))
    import numpy as np

    k = np.array([0.0, 1.0, 7.0, 1000.0])
    x = D._samples_of_steps(ax, k)
    assert x.tolist() == [0.0, 48.0, 336.0, 48_000.0]
    assert D._steps_of_samples(ax, x).tolist() == k.tolist()
    assert D._steps_of_samples(ax, x + 47).tolist() == k.tolist()  # inside the same batch


def test_long_runs_are_sampled_but_keep_boundaries(monkeypatch):
    monkeypatch.setattr(D, "EXHAUSTIVE_LIMIT", 10_000)
    monkeypatch.setattr(D, "SAMPLED_POINTS", 1_000)
    n = 100_000
    a = sched(SPEC, str(n))
    b = with_blip(n, 50_001, 0.5)  # a phase boundary of B: always among the sampled points
    al, r = D.compare(a, b)
    assert not r.exhaustive and r.compared < 2_000
    assert r.first_divergence.step_a == 50_001 and r.differing == 1
    assert any("compared" in n_ and "phase boundary" in n_ for n_ in r.notes)


def test_multiplier_against_absolute_is_an_error():
    with pytest.raises(LrplanError, match="multiplier of the peak"):
        D.compare(sched(SPEC, lr=None), sched(SPEC))


def test_no_length_is_an_error():
    s = Schedule(Curve((Segment("constant", 0.0, None, ONE, ONE),)))
    with pytest.raises(LrplanError, match="neither schedule says how long it runs"):
        D.compare(s, s)


# ---- the command -----------------------------------------------------------------------------


def test_cli_exit_codes_and_text():
    r = run_cli("diff", SPEC, "warmup=2000,constant,1-sqrt=20%", "--steps", "100k", "--lr", "3e-4")
    assert r.returncode == 1, r.stderr
    out = r.stdout.splitlines()
    assert out[2].startswith("DIFFERENT at 98,000 of 100,001 steps (compared every step 0–100,000")
    assert out[3].startswith("largest absolute difference: 0.000243191 at step 80000")
    assert "first divergence: step 2001" in r.stdout and "last agreement: step 2000" in r.stdout
    assert "difference A − B:" in r.stdout
    assert all(len(line) <= 100 for line in out)  # COLUMNS=100 in run_cli
    r = run_cli("diff", SPEC, SPEC, "--steps", "100k", "--no-chart")
    assert r.returncode == 0 and "EQUAL within tolerance" in r.stdout


def test_cli_tolerance_option():
    args = ("diff", SPEC, SPEC, "--steps", "100k", "--no-chart")
    r = run_cli(*args[:2], "warmup=2000,cosine,min=0.1000001", *args[3:])
    assert r.returncode == 1
    r = run_cli(*args[:2], "warmup=2000,cosine,min=0.1000001", *args[3:], "--tolerance", "1e-5")
    assert r.returncode == 0, r.stdout


def test_cli_bad_input_is_exit_2():
    r = run_cli("diff", SPEC, "warmup=2000,cosinus", "--steps", "100k")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli("diff", SPEC, SPEC, "--steps", "100k", "--tolerance", "-1")
    assert r.returncode == 2 and "--tolerance must be a non-negative number" in r.stderr


@pytest.mark.parametrize("suffix,magic", [(".html", b"<!DOCTYPE html>"), (".png", b"\x89PNG")])
def test_cli_writes_reports(tmp_path, suffix, magic):
    out = tmp_path / f"d{suffix}"
    r = run_cli("diff", SPEC, "warmup=2000,constant,1-sqrt=20%", "--steps", "100k", "-o", str(out), "--json")
    assert r.returncode == 1, r.stderr
    assert json.loads(r.stdout)["equal"] is False
    data = out.read_bytes()
    assert data.startswith(magic)
    if suffix == ".html":
        text = data.decode()
        assert len(data) < 5_000_000
        assert "<caption>Key points of both</caption>" in text and "B: 1-sqrt starts" in text
        assert "first divergence: step 2001" in text


def test_cli_unknown_suffix(tmp_path):
    r = run_cli("diff", SPEC, SPEC, "--steps", "100k", "-o", str(tmp_path / "d.jpg"))
    assert r.returncode == 2 and "use one of .png, .svg, .pdf, .html, .htm" in r.stderr


# ---- properties ------------------------------------------------------------------------------

from hypothesis import given, settings
from hypothesis import strategies as st

specs = st.builds(
    lambda w, shape, floor: f"warmup={w},{shape}" + (f",min={floor}" if shape != "constant" else ""),
    st.integers(1, 3000), st.sampled_from(["cosine", "linear", "constant", "poly(power=2)"]),
    st.sampled_from([0, 0.05, 0.1, 0.3]),
)


@settings(max_examples=25, deadline=None)
@given(specs, st.integers(5_000, 50_000))
def test_a_schedule_equals_itself_and_a_scaled_copy_differs_from_its_first_nonzero_step(spec, n):
    a = sched(spec, str(n))
    al, r = D.compare(a, sched(spec, str(n)))
    assert r.equal and r.area_ratio == 1.0 and r.compared == n + 1
    _, r = D.compare(a, sched(spec, str(n), lr=3e-4 * (1 + 1e-9)))
    assert not r.equal and r.first_divergence.step_a == 1  # step 0 of a warmup from 0 is 0 in both
    assert r.max_rel_value == pytest.approx(1e-9 / (1 + 1e-9), rel=1e-6)


def test_a_deepspeed_batch_size_lines_runs_up_by_samples(tmp_path):
    """train_batch_size is the global batch: compared with a Megatron run of another batch size, the two are
    lined up by samples consumed, not step by step ("B has no batch size" was said)."""
    ds = tmp_path / "ds_config.json"
    ds.write_text(json.dumps({"train_batch_size": 512, "optimizer": {"type": "AdamW", "params": {"lr": 3e-4}},
                              "scheduler": {"type": "WarmupLR", "params": {"warmup_num_steps": 100,
                                                                           "warmup_type": "linear"}}}))
    flags = "--lr 3e-4 --lr-decay-style constant --lr-warmup-iters 50 --train-iters 2000 --global-batch-size 1024"
    r = run_cli("diff", str(ds), flags, "--json", "--steps", "4000")
    assert r.returncode in (0, 1), r.stderr
    doc = json.loads(r.stdout)
    assert doc["axis"] == "samples" and not any("no batch size" in n for n in doc["notes"])


# ---- companions: weight decay and momentum are compared too ------------------------------------------

WD_FLAGS = ("--lr 1e-3 --min-lr 1e-4 --lr-decay-style cosine --lr-warmup-iters 10 --train-iters 100 "
            "--start-weight-decay 0.01 --end-weight-decay 0.1 --weight-decay-incr-style ")


def test_diff_reports_a_weight_decay_only_difference():
    r = run_cli("diff", WD_FLAGS + "linear", WD_FLAGS + "cosine", "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["lr_equal"] is True and doc["equal"] is False
    (wd,) = doc["companions"]
    assert wd["name"] == "weight_decay" and wd["equal"] is False
    # Megatron: linear wd(k) = start + (end - start) * k / T; cosine = start + (end - start) * (1 - cos(pi k/T)) / 2
    assert wd["first_divergence"]["step"] == 1
    assert wd["first_divergence"]["a"] == pytest.approx(0.01 + 0.09 * 1 / 100, rel=1e-12)
    text = run_cli("diff", WD_FLAGS + "linear", WD_FLAGS + "cosine", "--no-chart")
    assert text.returncode == 1 and "weight decay: DIFFERENT" in text.stdout


def test_diff_companions_equal_when_identical():
    r = run_cli("diff", WD_FLAGS + "linear", WD_FLAGS + "linear", "--json")
    assert r.returncode == 0, r.stderr
    assert [c["equal"] for c in json.loads(r.stdout)["companions"]] == [True]


def test_diff_companion_on_one_side_only():
    r = run_cli("diff", "warmup=10,cosine,momentum=0.9", "warmup=10,cosine", "--steps", "100", "--json")
    assert r.returncode == 1, r.stderr
    (m,) = json.loads(r.stdout)["companions"]
    assert m["name"] == "momentum" and m["only_in"] == "A"
