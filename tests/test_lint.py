"""Lint: every rule fires on a config with its pitfall and stays quiet on one without.

Configs go through the real readers (lrplan.sources.load) wherever a reader accepts the pitfall; a rule
whose pitfall the reader itself rejects (Megatron's ramp-up with iteration flags) is tested on the raw
fields such a config carries (e.g. from a Megatron-Bridge recipe).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run_cli
from lrplan import irjson, lint
from lrplan.frameworks.base import Loaded, ReadOptions
from lrplan.ir import ONE, Curve, Level, Schedule, Segment
from lrplan.lint import all_rules

RULES = all_rules()
from lrplan.sources import load
from lrplan.spec import parse_spec

MEG = "--lr 3e-4 --min-lr 3e-5 --lr-decay-style cosine --global-batch-size 256 "


def ds(sched: dict, opt_lr=3e-4) -> str:
    return json.dumps({"train_batch_size": 256, "optimizer": {"type": "AdamW", "params": {"lr": opt_lr}},
                       "scheduler": sched})


WARMUP_DECAY = {"type": "WarmupDecayLR", "params": {"total_num_steps": 10000, "warmup_num_steps": 500,
                                                    "warmup_max_lr": 3e-4, "warmup_type": "linear"}}
HF_DS = {"scheduler": {"type": "WarmupDecayLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto",
                                                           "warmup_num_steps": "auto", "total_num_steps": "auto",
                                                           "warmup_type": "linear"}},
         "optimizer": {"type": "AdamW", "params": {"lr": "auto"}}}


def hf(**fields) -> str:
    import yaml

    base = {"learning_rate": 3e-4, "lr_scheduler_type": "linear", "warmup_steps": 100, "max_steps": 5000}
    return yaml.safe_dump(base | fields)


def nemo(sched, T=1000) -> str:
    import yaml

    return yaml.safe_dump({"trainer": {"max_steps": T}, "model": {"optim": {"lr": 1e-3, "sched": sched}}})


AXO = "base_model: x\nmicro_batch_size: 1\nlearning_rate: 1.0e-4\nmax_steps: 1000\n"


def ir_json(floor: float) -> str:
    s = Schedule(Curve((Segment("linear", 0, 100, Level(0.0), ONE, label="warmup"),
                        Segment("cosine", 100, 1000, ONE, Level(floor, True)))), peak_lr=3e-4, total=1000)
    return irjson.dumps(s)


def megatron_raw(**raw) -> Loaded:
    """A Megatron-style config the reader would reject, as its raw fields (e.g. a Megatron-Bridge recipe)."""
    s = parse_spec("warmup=100,cosine,min=0.1", steps="10000", lr=3e-4)
    return Loaded(s, "megatron", "bridge recipe", raw=dict(raw, _defaults_applied=[]))


# rule -> (source with the pitfall, source without). A source is a string for lrplan.sources.load,
# (text, suffix) for a file, (string, {read options}) or a ready Loaded.
CASES = {
    "LR001": ("warmup=100,cosine", "warmup=100(shift=1,span=101),cosine"),
    "LR002": ((ds({"type": "WarmupLR", "params": {"warmup_num_steps": 100}}), ".json"),
              (ds({"type": "WarmupLR", "params": {"warmup_num_steps": 100, "warmup_type": "linear"}}), ".json")),
    "LR003": ((ds({"type": "WarmupDecayLR", "params": {"total_num_steps": 10000, "warmup_type": "linear"}}),
               ".json"), (ds(WARMUP_DECAY), ".json")),
    "LR004": (MEG + "--train-iters 100000 --lr-decay-iters 50000 --lr-warmup-iters 100",
              MEG + "--train-iters 100000 --lr-decay-iters 100000 --lr-warmup-iters 100"),
    "LR005": (MEG + "--train-iters 10000 --lr-decay-iters 20000 --lr-warmup-iters 100",
              MEG + "--train-iters 10000 --lr-warmup-iters 100"),
    "LR006": (MEG + "--train-iters 100000 --lr-decay-iters 80000 --lr-warmup-fraction 0.01",
              MEG + "--train-iters 100000 --lr-warmup-fraction 0.01"),
    "LR007": (MEG.replace("cosine", "WSD") + "--train-iters 2000 --lr-warmup-iters 500 --lr-wsd-decay-iters 2000",
              MEG.replace("cosine", "WSD") + "--train-iters 2000 --lr-warmup-iters 500 --lr-wsd-decay-iters 400"),
    "LR008": (megatron_raw(train_iters=10000, lr_decay_iters=10000, rampup_batch_size=[32, 32, 100000]),
              MEG + "--train-samples 2560000 --lr-warmup-samples 25600 --rampup-batch-size 32 32 100000"),
    "LR009": ((hf(warmup_ratio=0.1), ".yaml"), (hf(), ".yaml")),
    "LR010": ((ir_json(5e-4), ".json"), (ir_json(3e-5), ".json")),
    "LR011": ("warmup=100,cosine(cycles=1)", "warmup=100,cosine"),
    "LR012": (("warmup=100,cosine", {"extra": (("gradient_accumulation_steps", "16"),)}),
              ((hf(gradient_accumulation_steps=16), ".yaml"))),
    "LR013": ((hf(lr_scheduler_type="cosine", deepspeed=HF_DS), ".yaml"), (hf(deepspeed=HF_DS), ".yaml")),
    "LR014": (MEG + "--train-iters 10000 --lr-decay-iters 9000 --lr-warmup-iters 1000",
              MEG + "--train-iters 10000 --lr-decay-iters 10000 --lr-warmup-iters 1000"),
    # NeMo (lrplan/frameworks/nemo/lint.py)
    "LR020": ((nemo({"name": "CosineAnnealing", "max_steps": -1}, -1), ".yaml"),
              (nemo({"name": "CosineAnnealing", "warmup_steps": 10}), ".yaml")),
    "LR021": ((nemo({"name": "CosineAnnealing", "warmup_steps": 10, "constant_steps": 100, "min_lr": 1e-5}), ".yaml"),
              (nemo({"name": "CosineAnnealing", "warmup_steps": 10, "constant_steps": 0, "min_lr": 1e-5}), ".yaml")),
    "LR022": ((nemo({"name": "CosineAnnealing", "warmup_steps": 10, "max_steps": 500}), ".yaml"),
              (nemo({"name": "CosineAnnealing", "warmup_steps": 10}), ".yaml")),
    "LR023": ((nemo({"name": "SquareRootAnnealing", "warmup_steps": 10}), ".yaml"),
              (nemo({"name": "PolynomialDecayAnnealing", "warmup_steps": 10, "power": 0.5}), ".yaml")),
    # axolotl (lrplan/frameworks/axolotl_lint.py)
    "LR024": ((AXO + "lr_scheduler: cosine\n", ".yaml"), (AXO + "lr_scheduler: cosine\nwarmup_steps: 0\n", ".yaml")),
    "LR025": ((AXO + "lr_scheduler: cosine\nwarmup_steps: 0\ncosine_min_lr_ratio: 0\n", ".yaml"),
              (AXO + "lr_scheduler: cosine\nwarmup_steps: 0\ncosine_min_lr_ratio: 0.1\n", ".yaml")),
    "LR026": ((AXO + "lr_scheduler: constant\nwarmup_ratio: 0.1\n", ".yaml"),
              (AXO + "lr_scheduler: constant_with_warmup\nwarmup_ratio: 0.1\n", ".yaml")),
}


def _load(src, tmp_path: Path) -> tuple[Loaded, dict]:
    if isinstance(src, Loaded):
        return src, {}
    opts = {"steps": "1000"}
    if isinstance(src, tuple) and isinstance(src[1], dict):
        src, extra = src
        opts.update(extra)
    if isinstance(src, tuple):
        text, suffix = src
        path = tmp_path / f"config{suffix}"
        path.write_text(text)
        src = str(path)
        opts.pop("steps")
    if src.startswith("--"):
        opts.pop("steps", None)
    ro = ReadOptions(**opts)
    return load(src, opts=ro), dict(ro.extra)


# rules whose fires / stays-quiet cases live next to their dialect's differential tests (they need the
# dialect's fixtures or --set facts): rule -> that test file, which must name the rule
ELSEWHERE = {
    "LR031": "frameworks/test_composer.py", "LR032": "frameworks/test_composer.py",
    "LR033": "frameworks/test_composer.py", "LR034": "frameworks/test_olmo_core.py",
    "LR035": "frameworks/test_timm.py", "LR036": "frameworks/test_timm.py",
    "LR040": "frameworks/test_swa.py", "LR041": "frameworks/test_swa.py", "LR042": "frameworks/test_swa.py",
    "LR043": "frameworks/test_schedulefree.py", "LR044": "frameworks/test_schedulefree.py",
}


def test_every_rule_has_cases():
    assert {r.id for r in RULES} == set(CASES) | set(ELSEWHERE)
    here = Path(__file__).parent
    for rule, file in ELSEWHERE.items():
        assert rule in (here / file).read_text(encoding="utf-8"), f"{file} has no case for {rule}"


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_fires_on_pitfall(rule, tmp_path):
    ld, extra = _load(CASES[rule][0], tmp_path)
    fired = [f for f in lint.run(ld, extra) if f.rule == rule]
    assert len(fired) == 1, f"{rule} did not fire on {ld.label}"
    f = fired[0]
    assert f.message and f.fix and "\n" not in f.message
    assert f.severity == next(r.severity for r in RULES if r.id == rule)


@pytest.mark.parametrize("rule", sorted(CASES))
def test_rule_quiet_without_pitfall(rule, tmp_path):
    ld, extra = _load(CASES[rule][1], tmp_path)
    assert [f.rule for f in lint.run(ld, extra) if f.rule == rule] == []


def test_messages_carry_the_numbers(tmp_path):
    ld, _ = _load(CASES["LR006"][0], tmp_path)
    (f,) = [x for x in lint.run(ld) if x.rule == "LR006"]
    assert "800 iterations" in f.message and "1000" in f.message and f.where == "lr_warmup_fraction"
    ld, _ = _load(CASES["LR004"][0], tmp_path)
    (f,) = [x for x in lint.run(ld) if x.rule == "LR004"]
    assert f.step == 50000 and "last 50000 steps (50% of the run)" in f.message
    ld, _ = _load(CASES["LR003"][0], tmp_path)
    (f,) = [x for x in lint.run(ld) if x.rule == "LR003"]
    assert "0.001" in f.message and "0.0003" in f.message and f.where == "scheduler.params.warmup_max_lr"


def test_explicit_max_lr_that_differs_from_optimizer(tmp_path):
    params = dict(WARMUP_DECAY["params"], warmup_max_lr=1e-3)
    ld, _ = _load((ds({"type": "WarmupDecayLR", "params": params}), ".json"), tmp_path)
    assert [f.rule for f in lint.run(ld) if f.rule == "LR003"] == ["LR003"]


def test_torchtitan_decay_overlapping_warmup(tmp_path):
    bad = '[lr_scheduler]\nwarmup_steps = 600\ndecay_ratio = 0.8\n[training]\nsteps = 1000\n[optimizer]\nlr = 3e-4\n'
    ld, _ = _load((bad, ".toml"), tmp_path)
    assert "LR007" in [f.rule for f in lint.run(ld)]
    ok, _ = _load((bad.replace("0.8", "0.2"), ".toml"), tmp_path)
    assert "LR007" not in [f.rule for f in lint.run(ok)]


def test_scheduler_stepped_per_microbatch_from_step_counts():
    s = parse_spec("warmup=100,cosine", steps="1000", lr=3e-4)
    ld = Loaded(s, "checkpoint", "ckpt", raw={"scheduler.last_epoch": 3200, "optimizer.step": 400})
    assert [f.rule for f in lint.run(ld)] .count("LR012") == 1
    ok = Loaded(s, "checkpoint", "ckpt", raw={"scheduler.last_epoch": 400, "optimizer.step": 400})
    assert "LR012" not in [f.rule for f in lint.run(ok)]


def test_cosine_continuing_past_its_end():
    s = parse_spec("warmup=100,cosine=900,after=continue", steps="2000", lr=3e-4)
    assert "LR011" in [f.rule for f in lint.run(Loaded(s, "spec", "x"))]


# ---- CLI ---------------------------------------------------------------------------------------


def test_cli_error_exits_4_and_json(tmp_path):
    r = run_cli("lint", "warmup=100,cosine(cycles=1)", "--steps", "1000")
    assert r.returncode == 4, r.stderr
    assert "LR011 error" in r.stdout and "fix:" in r.stdout and "docs/lint.md#lr011" in r.stdout
    r = run_cli("lint", "warmup=100,cosine(cycles=1)", "--steps", "1000", "--json")
    assert r.returncode == 4
    doc = json.loads(r.stdout)
    assert doc["errors"] == 1 and {f["rule"] for f in doc["findings"]} == {"LR001", "LR011"}


def test_cli_warnings_exit_0_and_ignore():
    r = run_cli("lint", "warmup=100,cosine", "--steps", "1000")
    assert r.returncode == 0 and "LR001 warning" in r.stdout
    r = run_cli("lint", "warmup=100,cosine", "--steps", "1000", "--ignore", "LR001")
    assert r.returncode == 0 and "no known pitfalls" in r.stdout
    r = run_cli("lint", "warmup=100,cosine", "--steps", "1000", "--ignore", "LR999")
    assert r.returncode == 2 and "no rule LR999" in r.stderr


def test_cli_list_and_bad_source():
    r = run_cli("lint", "--list", "--json")
    assert r.returncode == 0 and [x["rule"] for x in json.loads(r.stdout)] == [x.id for x in RULES]
    r = run_cli("lint", "warmup=100,cosin", "--steps", "1000")
    assert r.returncode == 2 and "unknown phase or option 'cosin'" in r.stderr and "Traceback" not in r.stderr


def test_every_rule_documented():
    text = (Path(__file__).parent.parent / "docs" / "lint.md").read_text(encoding="utf-8")
    for r in RULES:
        head = f"## {r.id}"
        assert head in text, f"docs/lint.md lacks {head}"
        section = text.split(head, 1)[1].split("\n## ", 1)[0]
        assert "https://" in section, f"{r.id}: cite where the pitfall is documented"
        assert r.severity in section and "Fix" in section


def test_torchtitan_first_step_advice_names_its_real_warmup():
    """torchtitan warms up with (k+1)/W (field min_lr_factor): the advice once said (k+1)/(W+1) and lr_min."""
    from lrplan import frameworks

    fix = frameworks.get("torchtitan").first_step_fix
    assert "(k+1)/W" in fix and "(W+1)" not in fix and "lr_min" not in fix


def test_lint_reads_the_deepspeed_file_the_reader_reads(tmp_path, monkeypatch):
    """A recipe's relative `deepspeed:` path is resolved once, relative to the recipe, by reader and lint alike:
    run from another directory, LR013 still sees the recipe's own DeepSpeed scheduler."""
    recipe_dir = tmp_path / "recipes"
    recipe_dir.mkdir()
    (recipe_dir / "ds.json").write_text(json.dumps({"scheduler": {"type": "WarmupLR", "params": {
        "warmup_num_steps": 10, "warmup_max_lr": 3e-4}}, "optimizer": {"type": "AdamW", "params": {"lr": 3e-4}}}))
    (recipe_dir / "args.yaml").write_text("learning_rate: 3.0e-4\nlr_scheduler_type: cosine\nmax_steps: 100\nwarmup_steps: 10\n"
                                          "deepspeed: ds.json\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "ds.json").write_text(json.dumps({"optimizer": {"type": "AdamW", "params": {"lr": 3e-4}}}))
    monkeypatch.chdir(elsewhere)  # a ds.json here, without a scheduler, must not be the one used
    ld = load(str(recipe_dir / "args.yaml"))
    assert any("wins over lr_scheduler_type" in n for n in ld.notes)  # the reader used the recipe's ds.json
    found = [f.rule for f in lint.run(ld)]
    assert "LR013" in found
