"""The docs stay true: commands.md matches --help, the quick start and cookbook run, spec examples parse."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lrplan.spec import parse_spec

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FIXTURES = ROOT / "tests" / "fixtures" / "checkpoints"


def test_commands_md_in_sync_with_help():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr + "\nrun: python scripts/gen_docs.py"


def test_commands_md_lists_every_command():
    import typer

    from lrplan.cli import app

    text = (DOCS / "commands.md").read_text(encoding="utf-8")
    for name in typer.main.get_command(app).commands:
        assert f"## `lrplan {name}`" in text


def _bash_blocks(name: str) -> str:
    text = (DOCS / name).read_text(encoding="utf-8")
    return "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S))


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Every ``bash`` block of a page, in order, in one shell, as a newcomer would paste them (once per page)."""
    cache = {}

    def run(name: str) -> subprocess.CompletedProcess:
        if name not in cache:
            where = tmp_path_factory.mktemp(name.replace(".", "_"))
            (where / "runs").mkdir()
            shutil.copytree(FIXTURES / "megatron" / "torch_dist", where / "runs" / "gpt")
            shutil.copytree(FIXTURES / "hf", where / "output")
            env = dict(os.environ, COLUMNS="100",
                       PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
            cache[name] = subprocess.run(["bash", "-c", "set -e\n" + _bash_blocks(name)], cwd=where,
                                         capture_output=True, text=True, env=env, timeout=600)
        return cache[name]

    return run


@pytest.mark.parametrize("name", ["quickstart.md", "cookbook.md"])
def test_doc_commands_run(name, ran):
    r = ran(name)
    assert r.returncode == 0, f"{name}: a command failed\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    assert "Traceback" not in r.stderr


def test_cookbook_numbers(ran):
    """The numbers the cookbook text quotes are the ones the commands print."""
    out = ran("cookbook.md").stdout
    text = (DOCS / "cookbook.md").read_text(encoding="utf-8")
    assert "class input value 64 and checkpointvalue 32 for warmup iterations do not match" in out
    assert "(jump +0)" in out and "0.000299486" in out
    assert "for the decay to end pass --train-samples 400 (25 iterations)" in out  # task 1's warning
    # the iteration plan (decay now 640 samples) and the samples plan with --train-samples 320 stop short of
    # the floor; the fixed plan ends at the floor: no third warning
    assert "the resumed run ends after step 39 at LR 4.80866e-05" in out
    assert out.count("warning: the resumed run ends") == 2
    assert "ends after step 19 at LR 9.75e-05" in out
    assert out.count("lr 0.000211624") >= 2
    assert "'step': 100001" in out  # task 2: identical up to step 100,000
    assert "'step': 40001" in out  # task 3: identical up to step 40,000
    assert "largest absolute difference: 0.000180477 at step 263" in out
    for quoted in ("0.000211624", "0.000299486", "1.8e-4, is at step 263", "1.5e-7", "9.75e-05", "--train-samples 400"):
        assert quoted in text


MY_PAGES = ("quickstart.md", "commands.md", "spec.md", "lint.md", "cookbook.md")


def test_local_links_exist():
    for page in (DOCS / name for name in MY_PAGES):
        for target in re.findall(r"\]\(([^)#:]+\.md)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            assert (page.parent / target).exists(), f"{page.name} links to missing {target}"


def _spec_examples() -> list[str]:
    text = (DOCS / "spec.md").read_text(encoding="utf-8")
    table = text.split("## Examples", 1)[1].split("\n## ", 1)[0]
    return [m.replace("\\|", "|") for m in re.findall(r"^\| `([^`]+)` \|", table, re.M)]


@pytest.mark.parametrize("spec", _spec_examples())
def test_spec_examples_parse(spec):
    s = parse_spec(spec, steps="100k", lr=3e-4)
    assert s.lr.segments


def test_spec_error_examples_are_verbatim():
    """The error transcripts in spec.md are what the CLI prints."""
    from conftest import run_cli

    text = (DOCS / "spec.md").read_text(encoding="utf-8")
    for block in re.findall(r"\$ (lrplan plot .*?)\n(error: .*?)(?=\n\n|\n```)", text, re.S):
        cmd, expected = block
        args = re.findall(r'"[^"]*"|\S+', cmd)[1:]
        r = run_cli(*[a.strip('"') for a in args])
        assert r.returncode == 2
        assert r.stderr.strip() == expected.strip()


def test_relative_links_resolve():
    import re

    root = Path(__file__).resolve().parents[1]
    broken = []
    for md in [*root.glob("*.md"), *root.glob("docs/**/*.md")]:
        for link in re.findall(r"\]\(([^)#\s]+)", md.read_text(encoding="utf-8")):
            if not link.startswith(("http://", "https://", "mailto:")) and not (md.parent / link).exists():
                broken.append(f"{md.relative_to(root)} -> {link}")
    assert not broken, broken
