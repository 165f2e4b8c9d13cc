"""check (a run's logged LRs against a plan) and fit (the plan a run followed, from its logged LRs)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ExitCode, LrplanError
from . import common

LOG_HELP = ("A training log: TensorBoard event file or run directory, W&B offline run (run-*.wandb or its directory) "
            "or panel CSV, MLflow mlruns/ or mlflow.db, HF trainer_state.json (or the output/checkpoint directory), "
            "Lightning metrics.csv, Megatron-LM or DeepSpeed stdout.")
TAG_HELP = "The logged series to read (default: the one named like an LR: train/learning_rate, lr-AdamW, ...)."
FROM_LOG_HELP = ("Force a format: log:KIND for the log (tensorboard, wandb, wandb-csv, mlflow, hf, lightning, "
                 "megatron, deepspeed), or a plan format (spec, json, megatron, deepspeed, hf, ...) for PLAN.")
LOG_SET_HELP = ("KEY=VALUE facts: for the log transformers_version= (HF's step rule), step_offset= (k = logged step "
                "+ N), run= (MLflow run id); for the plan dataset_size=, world_size=, ...")


def register(app: typer.Typer) -> None:
    app.command(epilog=CHECK_EXAMPLES, context_settings={"ignore_unknown_options": True})(check)
    app.command(epilog=FIT_EXAMPLES)(fit)


def _split_from(fmt: str | None) -> tuple[str | None, str | None]:
    """--from value -> (for the log, for the plan)."""
    if fmt is not None and (fmt == "log" or fmt.startswith("log:")):
        return fmt, None
    return None, fmt


CHECK_EXAMPLES = """Examples:

  lrplan check runs/ "warmup=2000,cosine,min=0.1" --steps 100k --lr 3e-4

  lrplan check output/checkpoint-5000 recipe.yaml --json

  lrplan check train.log megatron_flags.sh -o report.html

Exit status: 0 when every logged LR is on plan (within the log's precision), 1 when not, 2 on bad input.
"""


def check(
    log: str = typer.Argument(..., metavar="LOG", help=LOG_HELP),
    plan: str = typer.Argument(..., metavar="PLAN", help="The plan (spec, preset, config, checkpoint)."),
    tag: Optional[str] = typer.Option(None, "--tag", help=TAG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as a JSON object."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write the overlay (.html/.png/.svg/.pdf)."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance",
                                              help="Relative tolerance on top of the log's own precision."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = typer.Option(None, "--from", help=FROM_LOG_HELP),
    sets: Optional[List[str]] = typer.Option(None, "--set", help=LOG_SET_HELP),
    chart: bool = typer.Option(True, "--chart/--no-chart", help="Draw the plan and the logged points."),
    width: Optional[int] = typer.Option(None, "--width", min=10, max=1000, help="Terminal chart width in columns (10-1000)."),
    height: int = typer.Option(12, "--height", min=2, max=500, help="Terminal chart height in rows (2-500)."),
) -> int:
    """Is the run on plan? Every logged LR against the plan: agreement, first divergence, largest error, and
    the likely cause and fix when the difference has a known signature."""
    from ..runcheck import check as run_check
    from ..sources import load_log

    if tolerance is not None and not (tolerance >= 0 and tolerance < 1):
        raise LrplanError(f"--tolerance must be a relative tolerance in [0, 1), got {tolerance!r}")
    log_fmt, plan_fmt = _split_from(fmt)
    opts = common.read_options(steps, lr, sets)
    series = load_log(log, log_fmt, opts, tag)
    ld = common.load(plan, plan_fmt, steps, lr, sets)
    result = run_check(series, ld.schedule, ld.label, extra_rel=tolerance)
    result.notes = list(ld.notes) + result.notes
    if output is not None:
        from ..render.files import kind_of, save_page
        from ..render.logs import check_page

        save_page(check_page(result, html=kind_of(output) == "html"), output, inputs=[log, plan])
        common.note(f"wrote {output}")
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, default=float))
    else:
        from ..render.logs import check_lines

        for line in check_lines(result):
            print(line)
        for n in list(series.notes) + result.notes:
            common.note(n)
        if chart:
            _chart([result.schedule], [series], ld.label, max(series.last, result.plan_total or 0), width, height)
    return ExitCode.OK if result.on_plan else ExitCode.DIFFERENT


def _chart(schedules, logs, label, k_max, width, height, log_y=False, marks=()) -> None:
    from ..render.logs import chart
    from ..render.terminal import Series

    con = common.console()
    w = width or min(max(con.width, 40), 120)
    series = [Series(s, label) for s in schedules]
    print()
    common.print_chart(con, chart(series, logs, k_max, width=w, height=height, log_y=log_y, marks=marks))


FIT_EXAMPLES = """Examples:

  lrplan fit runs/                               (prints the spec on stdout)

  lrplan fit train.log --json

  lrplan convert "$(lrplan fit output/)" --to megatron

Exit status: 0 when the spec reproduces every logged LR within the log's precision, 1 when the closest
shape does not, 2 on bad input.
"""


def fit(
    log: str = typer.Argument(..., metavar="LOG", help=LOG_HELP),
    tag: Optional[str] = typer.Option(None, "--tag", help=TAG_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the result as a JSON object."),
    fmt: Optional[str] = typer.Option(None, "--from", help="Force the log's kind: log:KIND."),
    sets: Optional[List[str]] = typer.Option(None, "--set", help=LOG_SET_HELP),
) -> int:
    """The schedule a run followed, from its logged LRs alone: phases, shapes, warmup, peak, floor and the
    implied total, as a spec that convert, resume and at-step take; with the residual and its worst step."""
    from ..fit import fit as run_fit
    from ..sources import load_log

    log_fmt, other = _split_from(fmt)
    if other is not None:
        raise LrplanError(f"--from {other}: fit reads a log; use --from log:KIND")
    series = load_log(log, log_fmt, common.read_options(None, None, sets), tag)
    result = run_fit(series)
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, default=float))
    else:
        sys.stdout.write(result.spec + "\n")
        from ..render.logs import fit_lines

        for line in fit_lines(result):
            print(line, file=sys.stderr)
        for n in list(series.notes) + result.notes:
            common.note(n)
    return ExitCode.OK if result.best.fits else ExitCode.DIFFERENT
