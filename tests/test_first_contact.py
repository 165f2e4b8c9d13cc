"""What a newcomer meets first: the headline commands, piped input, mistyped paths and presets, completion,
and the small things that read wrong (a piped multi-curve chart, a wrapped table title, warnings that were
missing). Every case runs through the installed entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pathlib import Path

import pytest

from conftest import run_cli

HF_RUN = str(Path(__file__).parent / "fixtures" / "checkpoints" / "hf")

HEADLINE = ("warmup=2000,cosine,min=0.1", "--steps", "100k", "--lr", "3e-4")


def test_headline_deepspeed_is_the_exact_client_scheduler_with_a_note():
    r = run_cli("convert", *HEADLINE, "--to", "deepspeed")
    assert r.returncode == 0, r.stderr
    assert "def make_lr_scheduler(optimizer):" in r.stdout
    assert "cannot reproduce this schedule exactly" in r.stderr and "one-step lag" in r.stderr
    assert "--variant json --approx" in r.stderr  # how to print the nearest JSON


def test_headline_torchtitan_refuses_with_the_nearest_and_the_command_that_prints_it():
    r = run_cli("convert", *HEADLINE, "--to", "torchtitan")
    assert r.returncode == 3 and r.stdout == ""
    assert "differs by 1.5e-07 at step 1001" in r.stderr
    cmd = "lrplan convert warmup=2000,cosine,min=0.1 --steps 100k --lr 3e-4 --to torchtitan --approx"
    assert cmd in r.stderr
    again = subprocess.run([sys.executable, "-m", "lrplan", *cmd.split()[1:]], capture_output=True, text=True)
    assert again.returncode == 0 and "[lr_scheduler]" in again.stdout


def test_a_piped_source_is_read_like_a_unix_filter():
    r = run_cli("convert", "--to", "json", "--steps", "100k", "--lr", "3e-4", input=HEADLINE[0] + "\n")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total"] == 100_000.0
    r = run_cli("table", "--steps", "10", input="warmup=2,cosine\n")
    assert r.returncode == 0 and "cosine" in r.stdout


def test_nothing_piped_on_a_terminal_says_what_a_source_is():
    master, slave = os.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "lrplan", "convert", "--to", "deepspeed"], stdin=slave,
                           capture_output=True, text=True, timeout=60)
    finally:
        os.close(master)
        os.close(slave)
    assert r.returncode == 2 and "missing SOURCE" in r.stderr and "a preset name" in r.stderr


def test_empty_input_is_said_to_be_empty():
    r = run_cli("convert", "--to", "json", input="")
    assert r.returncode == 2 and "standard input is empty" in r.stderr


@pytest.mark.parametrize("command", [("at-step", "53210"), ("convert", "--to", "json"), ("table",), ("plot",),
                                     ("explain",), ("lint",)])
def test_a_mistyped_path_is_no_such_file(command):
    r = run_cli(*command, "ckpt_missing.pt")
    assert r.returncode == 2 and "no such file: ckpt_missing.pt" in r.stderr
    assert "unknown phase" not in r.stderr and "Traceback" not in r.stderr
    r = run_cli(*command, "runs/gpt/")
    assert r.returncode == 2 and "no such file: runs/gpt/" in r.stderr


def test_a_mistyped_preset_gets_did_you_mean():
    r = run_cli("table", "llama3-450b")
    assert r.returncode == 2 and "no preset named 'llama3-450b'" in r.stderr and "llama3-405b" in r.stderr


def test_a_mistyped_plan_and_diff_source():
    r = run_cli("at-step", "5", HF_RUN, "--plan", "plan_missing.yaml")
    assert r.returncode == 2 and "no such file: plan_missing.yaml" in r.stderr
    r = run_cli("diff", "warmup=2,cosine,total=10", "b_missing.json")
    assert r.returncode == 2 and "no such file: b_missing.json" in r.stderr


def test_an_unknown_option_is_a_usage_error():
    r = run_cli("plot", "warmup=2,cosine,total=10", "--bogus")
    assert r.returncode == 2 and "no such option: --bogus" in r.stderr
    assert "cannot tell what format" not in r.stderr


def test_shell_completion_is_on():
    r = run_cli("--help")
    assert "--install-completion" in r.stdout and "--show-completion" in r.stdout
    env = {"_LRPLAN_COMPLETE": "complete_bash", "COMP_WORDS": "lrplan conv", "COMP_CWORD": "1"}
    r = run_cli(env=env)
    assert r.returncode == 0 and r.stdout.split() == ["convert"]


def test_usage_lines_name_source_as_the_docs_do():
    for command in ("plot", "table", "convert", "at-step", "explain", "lint"):
        usage = run_cli(command, "--help").stdout
        assert "SOURCE" in usage and "{source}" not in usage and "[source]" not in usage, command


def test_a_piped_chart_tells_its_curves_apart():
    r = run_cli("plot", "warmup=200,cosine,min=0.1", "warmup=200,constant,1-sqrt=20%", "--steps", "2000",
                "--width", "60", "--height", "8")
    assert r.returncode == 0
    legend = [line.strip() for line in r.stdout.splitlines() if "warmup=200," in line]
    assert len(legend) == 2 and legend[0][:2] != legend[1][:2], legend
    assert legend[1][0] in r.stdout.split("phases:")[0].split(legend[0])[0]  # the second curve's glyph is drawn


def test_a_table_title_is_not_wrapped_inside_a_number():
    spec = "warmup=2000,cosine,min=0.1,peak=3e-4,total=100k,gbs=1536,seq=2048"
    r = run_cli("table", spec)
    assert r.stdout.splitlines()[0] == spec


def test_resuming_a_run_that_decayed_to_zero_warns():
    r = run_cli("resume", HF_RUN, "--extend-to", "12", "--to", "torch")
    assert r.returncode == 0 and "decayed to LR 0" in r.stderr and "--rewarm" in r.stderr


def test_the_optax_writer_says_it_turns_on_float64_for_the_program():
    r = run_cli("convert", *HEADLINE, "--to", "optax")
    assert r.returncode == 0
    assert "jax_enable_x64 is global" in r.stdout and "turns on jax_enable_x64 for the whole program" in r.stderr
