"""branch: several WSD decays off one stable run (lrplan/checkpoints/branch.py), each through the exactness gate."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import LrplanError
from . import common

BRANCH_EXAMPLES = """Examples:

  lrplan branch "warmup=2000,constant,1-sqrt=10%" --steps 100k --lr 3e-4 --at 60%,80%,100% --decay 10%

  lrplan branch megatron_flags.txt --at 60%,80%,100% --decay 10% --shape 1-sqrt -o branches/ --plot b.png

  lrplan branch runs/gpt/iter_0060000 --at 80k,100k --decay 10% --to megatron
"""


def register(app: typer.Typer) -> None:
    app.command(epilog=BRANCH_EXAMPLES, context_settings={"ignore_unknown_options": True})(branch)


def branch(
    source: str = typer.Argument(..., metavar="CHECKPOINT_OR_PLAN",
                                 help="The stable run: a plan (spec, preset, config) or a checkpoint of it."),
    at: str = typer.Option(..., "--at", help="Where the branches end: steps or % of the run (60%,80%,100%)."),
    decay: str = typer.Option("10%", "--decay", help="Decay length: % of each branch's length, or steps."),
    shape: Optional[str] = typer.Option(None, "--shape", help="Decay shape: 1-sqrt, linear, cosine, exp-anneal, poly."),
    to: Optional[str] = typer.Option(None, "--to", help="Emit configs for this framework (default: the run's)."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write one file per branch into this directory."),
    plot: Optional[Path] = typer.Option(None, "--plot", help="Overlay the stable run and its branches (.png/.svg/.pdf/.html)."),
    approx: bool = typer.Option(False, "--approx", help="Emit the nearest config the target can express."),
    plan: Optional[str] = typer.Option(None, "--plan", help="The schedule, for a checkpoint that stores none."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> int:
    """Branch decays off one WSD stable phase: a ready config per branch, their token budgets, an overlay plot;
    from a checkpoint of the stable run, the resume into each branch."""
    from .. import frameworks
    from ..checkpoints.branch import branches
    from ..convert import convert, resume_artifact
    from ..frameworks.base import WriteOptions
    from ..sources import checkpoint_path
    from ..version import __version__

    opts = common.read_options(steps, lr, sets)
    ckpt = checkpoint_path(source, fmt)
    info = None
    if ckpt is not None:
        from ..checkpoints import read_info

        new = common.load(plan, None, steps, lr, sets) if plan is not None else None
        info = read_info(ckpt, opts, plan=new)
        if info.loaded is None:
            raise LrplanError(f"{ckpt}: no schedule to branch from ({'; '.join(info.missing)})",
                              hint="pass --plan SOURCE with the stable run's schedule")
        stable, target = info.loaded.schedule, to or info.framework
    else:
        loaded = common.load(source, fmt, steps, lr, sets)
        for n in loaded.notes:
            common.note(n)
        writable = loaded.format in frameworks.MODULES and frameworks.get(loaded.format).write is not None
        stable, target = loaded.schedule, to or (loaded.format if writable else "spec")
    found = branches(stable, at, decay, shape)
    texts = []
    for b in found:
        tokens = f", {b.tokens / 1e9:.4g}B tokens" if b.tokens is not None else ""
        common.note(f"{b.label}: stable until step {b.decay_start}, {b.end - b.decay_start}-step "
                    f"{b.schedule.lr.segments[-1].kind} decay, {b.end} steps{tokens}")
        wopts = WriteOptions(approx=approx, source_label=f"{source} {b.label}", version=__version__, facts=opts.extra)
        if info is not None:
            if b.decay_start < info.next_step:
                common.note(f"{b.label}: the checkpoint (next update {info.next_step}) is past its decay start "
                            f"{b.decay_start}; resume from an earlier checkpoint of the stable run")
                continue
            kind = b.schedule.lr.segments[-1].kind
            written = resume_artifact(info, str(b.end), target=target, shape=kind, wsd=str(b.end - b.decay_start),
                                      rewarm=None, approx=approx, label=wopts.source_label, version=__version__,
                                      facts=opts.extra)
        else:
            written = convert(b.schedule, target, wopts)
        for n in written.notes:
            common.note(f"{b.label}: {n}")
        texts.append((b, written))
    if output is not None:
        suffix = frameworks.get(target).suffix
        output.mkdir(parents=True, exist_ok=True)
        for b, written in texts:
            path = output / f"{b.label.replace('@', '-')}{suffix}"
            common.write_atomic(path, written.text, inputs=[source])
            common.note(f"wrote {path}")
    else:
        for b, written in texts:
            sys.stdout.write(f"# ---- lrplan branch: {b.label} (decay from step {b.decay_start}) ----\n")
            sys.stdout.write(written.text if written.text.endswith("\n") else written.text + "\n")
    if plot is not None:
        from ..render.files import save_plot
        from ..render.terminal import Series

        series = [Series(stable, "stable run")] + [
            Series(b.schedule, b.label + (f" ({b.tokens / 1e9:.4g}B tok)" if b.tokens is not None else ""))
            for b in found]
        save_plot(series, plot, k_max=max(b.end for b in found), inputs=[source])
        common.note(f"wrote {plot}")
    return 0
