"""CLI transcripts through the installed entry point."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import run_cli

SPEC = "warmup=2000,cosine,min=0.1"


def test_plot_terminal_chart():
    r = run_cli("plot", SPEC, "--steps", "100k", "--width", "80")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "phases: warmup 0–2k · cosine 2k–100k" in r.stdout
    assert max(len(line) for line in lines[:-1]) <= 80
    assert lines[0].strip().startswith("1 ┤")  # top of the axis is the peak multiplier
    assert any(line.strip().startswith("0 ┤") for line in lines)
    assert "100k" in r.stdout and "step" in r.stdout
    assert any("\u2800" < ch <= "\u28ff" for ch in r.stdout)  # braille dots were drawn


def test_plot_overlay_has_a_legend():
    r = run_cli("plot", SPEC, "warmup=2000,constant,1-sqrt=20%", "--steps", "100k", "--width", "80")
    assert r.returncode == 0, r.stderr
    # piped: the curves are told apart by glyph, not colour
    assert "⠿⠿ warmup=2000,cosine,min=0.1" in r.stdout
    assert "•• warmup=2000,constant,1-sqrt=20%" in r.stdout


def test_table_json_is_stable_and_exact():
    r = run_cli("table", SPEC, "--steps", "100k", "--lr", "3e-4", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    pts = {p["step"]: p["lr"] for p in doc["points"]}
    assert pts[0] == 0.0
    assert pts[2000] == 3e-4
    assert pts[100000] == pytest.approx(3e-5, rel=1e-15)
    assert all({"step", "lr", "phase"} <= set(p) for p in doc["points"])


def test_table_at_and_every_and_formats():
    r = run_cli("table", SPEC, "--steps", "100k", "--at", "0,1000,51000,50%", "--format", "csv")
    assert r.returncode == 0, r.stderr
    rows = [line.split(",") for line in r.stdout.strip().splitlines()]
    assert rows[0][:3] == ["step", "lr", "phase"]
    assert [float(x[1]) for x in rows[1:]] == pytest.approx([0.0, 0.5, 0.55, 0.1 + 0.45 * (1 + __import__("math").cos(
        __import__("math").pi * 48000 / 98000))], rel=1e-12)
    r = run_cli("table", SPEC, "--steps", "100k", "--every", "25k", "--format", "md")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0].startswith("| step | lr | phase")
    assert len(r.stdout.strip().splitlines()) == 2 + 5  # header, rule, 0/25k/50k/75k/100k
    r = run_cli("table", SPEC, "--steps", "100k")
    assert r.returncode == 0 and "last warmup step" in r.stdout and "after the end" in r.stdout


def test_at_step_json():
    r = run_cli("at-step", "51000", SPEC, "--steps", "100k", "--lr", "3e-4", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["step"] == 51000 and out["lr"] == pytest.approx(0.55 * 3e-4, rel=1e-12)
    assert out["phase"] == "cosine"


def test_at_step_text_and_percent():
    r = run_cli("at-step", "50%", SPEC, "--steps", "100k")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("step 50000: lr ") and "× peak" in r.stdout


def test_bad_spec_gets_a_caret_and_exit_2():
    r = run_cli("plot", "warmup=2000,cosne,min=0.1", "--steps", "100k")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.splitlines() == [
        "error: unknown phase or option 'cosne'",
        "  warmup=2000,cosne,min=0.1",
        "              ^^^^^",
        "hint: did you mean 'cosine'?",
    ]
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args", [
    ("table", SPEC, "--steps", "100k", "--format", "xml"),
    ("at-step", "-5", SPEC, "--steps", "100k"),
    ("at-step", "1.5", SPEC, "--steps", "100k"),
    ("convert", SPEC, "--steps", "100k", "--to", "megatorn"),
    ("plot", "warmup=120k,cosine", "--steps", "100k"),
    ("table", SPEC, "--steps", "100k", "--lr", "-1"),
    ("plot", "/nonexistent/dir/"),
    ("table", SPEC, "--steps", "100k", "--from", "yaml2"),
])
def test_bad_input_exits_2_without_traceback(args):
    r = run_cli(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stderr.lower().startswith("error: ") or "\nError: " in r.stderr  # ours, or click's usage errors
    assert "Traceback" not in r.stderr


def test_convert_json_round_trip_through_files(tmp_path):
    plan = tmp_path / "plan.json"
    r = run_cli("convert", SPEC, "--steps", "100k", "--lr", "3e-4", "--to", "json", "-o", str(plan))
    assert r.returncode == 0, r.stderr
    assert json.loads(plan.read_text())["lrplan_ir"] == 1
    a = run_cli("table", str(plan), "--format", "json")
    b = run_cli("table", SPEC, "--steps", "100k", "--lr", "3e-4", "--format", "json")
    assert json.loads(a.stdout)["points"] == json.loads(b.stdout)["points"]
    spec = run_cli("convert", str(plan), "--to", "spec")
    assert spec.stdout.strip() == "warmup=2000,cosine=98000,min=0.1,peak=0.0003,total=100000"
    again = run_cli("convert", str(plan), "--to", "json", "-o", str(plan))
    assert again.returncode == 2 and "refusing to overwrite the input" in again.stderr


def test_stdin_source():
    r = run_cli("at-step", "1000", "-", "--steps", "100k", input=SPEC + "\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("step 1000: lr 0.5")


def test_module_entry_point_and_version():
    r = subprocess.run([sys.executable, "-m", "lrplan", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("lrplan ")


@pytest.mark.parametrize("command", ["plot", "table", "at-step", "convert"])
def test_help_has_examples(command):
    r = run_cli(command, "--help")
    assert r.returncode == 0
    assert "Examples" in r.stdout and "lrplan " + command in r.stdout


HEAVY = ("torch", "matplotlib", "plotly", "transformers", "deepspeed", "megatron", "jax")


def test_importing_the_cli_is_light():
    code = "import sys, lrplan.cli; print(','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_at_step_on_a_spec_imports_no_numpy_or_heavy_library():
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('MODULES:' + ','.join(m for m in %r if m in sys.modules)))\n"
        "from lrplan.cli import main\n"
        "main(['at-step', '53210', %r, '--steps', '100k', '--lr', '3e-4'])\n" % (HEAVY + ("numpy",), SPEC)
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().endswith("MODULES:"), r.stderr


def test_command_table_matches_the_modules():
    import typer

    from lrplan import cli

    names = {c.name for c in typer.main.get_command(cli.build_app()).commands.values()}
    assert names == set(cli.COMMANDS)
    for name, module in cli.COMMANDS.items():
        only = typer.main.get_command(cli.build_app([module]))
        assert name in only.commands, f"{module} does not define {name}"


@pytest.mark.parametrize("target,extra", [("megatron", []), ("hf", []), ("torch", []), ("lightning", []),
                                          ("optax", []), ("torchtitan", ["--approx"]), ("deepspeed", ["--approx"]),
                                          ("json", []), ("spec", [])])
def test_convert_imports_no_framework(target, extra):
    """`convert` stays light: writers are tables and formulas, never the framework itself."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stderr.write('MODULES:' + ','.join(m for m in %r if m in sys.modules)))\n"
        "from lrplan.cli import main\n"
        "main(['convert', %r, '--steps', '10k', '--lr', '3e-4', '--to', %r, *%r])\n"
        % (HEAVY, SPEC, target, extra)
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().endswith("MODULES:"), r.stderr


def test_a_broken_import_is_not_swallowed(monkeypatch):
    """A module lrplan cannot import is an error, never a silent fallback (a preset name once became a spec)."""
    import sys

    import pytest

    from lrplan.sources import load

    monkeypatch.setitem(sys.modules, "lrplan.presets", None)
    with pytest.raises(ImportError):
        load("bert-base")


def test_long_tables_stream_the_same_rows():
    """A table over more rows than fit comfortably is streamed chunk by chunk; its rows are those the small
    path prints for the same steps, in every format."""
    import csv
    import io

    import numpy as np

    from lrplan.evaluate import lr
    from lrplan.spec import parse_spec

    spec, steps = "warmup=2000,cosine,min=0.1", "30k"
    big = run_cli("table", spec, "--steps", steps, "--lr", "3e-4", "--every", "1", "--format", "csv")
    assert big.returncode == 0, big.stderr
    rows = list(csv.DictReader(io.StringIO(big.stdout)))
    assert len(rows) == 30_001 and [int(r["step"]) for r in rows[:3]] == [0, 1, 2]
    expected = lr(parse_spec(spec, steps=steps, lr=3e-4), np.arange(30_001))
    assert [float(r["lr"]) for r in rows] == expected.tolist()  # repr round-trips every value exactly
    few = run_cli("table", spec, "--steps", steps, "--lr", "3e-4", "--at", "0,1999,2000,29999", "--format", "csv")
    small = {r["step"]: r for r in csv.DictReader(io.StringIO(few.stdout))}
    for r in rows:
        if r["step"] in small:
            assert (r["lr"], r["phase"]) == (small[r["step"]]["lr"], small[r["step"]]["phase"])
    doc = json.loads(run_cli("table", spec, "--steps", steps, "--every", "1", "--format", "json").stdout)
    assert len(doc["points"]) == 30_001 and doc["points"][2000]["phase"] == "cosine"
    text = run_cli("table", spec, "--steps", steps, "--every", "1").stdout.splitlines()
    assert len(text) == 30_003 and text[0] == spec and text[-1].split()[:1] == ["30000"]
    md = run_cli("table", spec, "--steps", steps, "--every", "1", "--format", "md").stdout.splitlines()
    assert len(md) == 30_003 and md[2].startswith("| 0 | 0 | warmup")


def test_convert_help_names_every_target():
    from lrplan import frameworks

    r = run_cli("convert", "--help")
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    missing = [name for name in frameworks.writers() if f"{name}," not in text and f"{name}." not in text]
    assert not missing, missing


def test_table_key_points_include_the_scale_changes():
    import json

    r = run_cli("table", "warmup=100,cosine,scale=[constant=300,linear=100(from=0.01,to=1),constant],peak=1e-3",
                "--steps", "1000", "--format", "json")
    assert r.returncode == 0, r.stderr
    notes = {p["step"]: p["note"] for p in json.loads(r.stdout)["points"]}
    assert "scale linear starts" in notes[300] and "scale constant starts" in notes[400]
