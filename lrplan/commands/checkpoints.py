"""inspect and resume: checkpoints (the reading lives in lrplan.checkpoints)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ExitCode, LrplanError
from . import common


def register(app: typer.Typer) -> None:
    app.command(epilog=INSPECT_EXAMPLES)(inspect)
    app.command(epilog=RESUME_EXAMPLES)(resume)


CONFIG_HELP = "The run's config when the checkpoint lacks it (DeepSpeed JSON, torchtitan TOML, HF args, flags)."

INSPECT_EXAMPLES = """Examples:

  lrplan inspect runs/gpt/

  lrplan inspect output/checkpoint-3000 --json

  lrplan inspect outputs/checkpoint/step-1000 --config job.toml
"""


def inspect(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT",
                                      help="A checkpoint file or directory (the latest one in a run directory)."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
    plan: Optional[str] = typer.Option(None, "--plan", help="The schedule, for a LambdaLR state that stores none."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> int:
    """Framework, position, recovered schedule, stored vs recomputed LR of a checkpoint."""
    from ..checkpoints import read_info
    from ..checkpoints.report import inspect as report
    from ..checkpoints.report import mismatch
    from ..render.reports import inspect_text

    if not checkpoint.exists():
        raise LrplanError(f"{checkpoint} does not exist")
    opts = common.read_options(steps, lr, sets)
    new = common.load(plan, None, steps, lr, sets) if plan is not None else None
    out = report(read_info(checkpoint, opts, config=config, plan=new), opts, config)
    if as_json:
        print(json.dumps(out, default=str))
    else:
        text, notes = inspect_text(out)
        sys.stdout.write(text)
        for n in notes:
            common.note(n)
    return int(ExitCode.MISMATCH) if mismatch(out) else 0


RESUME_EXAMPLES = """Examples:

  lrplan resume runs/gpt/ --extend-to 150k

  lrplan resume runs/gpt/ --extend-to 150k --wsd 15k --to megatron

  lrplan resume output/checkpoint-3000 --extend-to 6000 --rewarm 200 --to hf
"""


def resume(
    checkpoint: Path = typer.Argument(..., metavar="CHECKPOINT", help="A checkpoint file or directory."),
    extend_to: str = typer.Option(..., "--extend-to", help="The new last step (150k, 2M)."),
    to: Optional[str] = typer.Option(None, "--to", help="Emit the config for this framework (default: the checkpoint's)."),
    wsd: Optional[str] = typer.Option(None, "--wsd", help="Switch to WSD: hold the current LR, anneal over the last N steps."),
    rewarm: Optional[str] = typer.Option(None, "--rewarm", help="Re-warm to the peak over N steps, then decay."),
    shape: Optional[str] = typer.Option(None, "--shape", help="Decay shape: cosine, linear, 1-sqrt, poly, exp-anneal."),
    approx: bool = typer.Option(False, "--approx", help="Emit the nearest config the target can express."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the config to a file."),
    config: Optional[str] = typer.Option(None, "--config", help=CONFIG_HELP),
    plan: Optional[str] = typer.Option(None, "--plan", help="The schedule, for a LambdaLR state that stores none."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> int:
    """Continue a run past its planned end (or switch to WSD), LR continuous at the resume step."""
    from ..version import __version__
    from ..checkpoints import read_info
    from ..convert import resume_artifact

    opts = common.read_options(steps, lr, sets)
    new = common.load(plan, None, steps, lr, sets) if plan is not None else None
    info = read_info(checkpoint, opts, config=config, plan=new)
    result = resume_artifact(info, extend_to, target=to, shape=shape, wsd=wsd, rewarm=rewarm, approx=approx,
                               label=f"{checkpoint} extended", version=__version__, facts=opts.extra)
    for n in result.notes:
        common.note(n)
    if output is not None:
        inputs = [str(checkpoint)] + [x for x in (config, plan) if x]
        common.write_atomic(output, result.text, inputs=inputs)
        common.note(f"wrote {output}")
    else:
        sys.stdout.write(result.text)
    return 0
