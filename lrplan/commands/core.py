"""plot, table, at-step, convert."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import InexpressibleError, LrplanError
from . import common


# A SOURCE may be a flag string ("--lr 3e-4 --lr-decay-style cosine ..."): click must pass it through
# as an argument instead of taking it for an unknown option.
SOURCE_ARGS = {"ignore_unknown_options": True}


def register(app: typer.Typer) -> None:
    app.command(epilog=PLOT_EXAMPLES, context_settings=SOURCE_ARGS)(plot)
    app.command(epilog=TABLE_EXAMPLES, context_settings=SOURCE_ARGS)(table)
    app.command("at-step", epilog=AT_STEP_EXAMPLES, context_settings=SOURCE_ARGS)(at_step)
    app.command(epilog=CONVERT_EXAMPLES, context_settings=SOURCE_ARGS)(convert)


PLOT_EXAMPLES = """Examples:

  lrplan plot "warmup=2000,cosine,min=0.1" --steps 100k

  lrplan plot "warmup=2000,cosine,min=0.1" "warmup=2000,constant,1-sqrt=20%" --steps 100k -o curves.html

  lrplan plot ds_config.json --lr 3e-4 --log-y --mark 50k -o curve.png

  lrplan plot runs/ "warmup=2000,cosine,min=0.1" --steps 100k --lr 3e-4   (a log's points on the plan)
"""


def plot(
    sources: Optional[List[str]] = typer.Argument(
        None, metavar="SOURCE...", show_default=False,
        help="One or more schedules (spec, preset, config, checkpoint) or training logs (drawn as points)."
        + common.STDIN_HELP),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write .png/.svg/.pdf/.html instead."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
    log_y: bool = typer.Option(False, "--log-y", help="Logarithmic LR axis."),
    mark: Optional[List[str]] = typer.Option(None, "--mark", help="Mark a step (repeatable)."),
    until: Optional[str] = typer.Option(None, "--until", help="Last step shown (default: the end)."),
    width: Optional[int] = typer.Option(None, "--width", min=10, max=1000, help="Terminal chart width in columns (10-1000)."),
    height: int = typer.Option(16, "--height", min=2, max=500, help="Terminal chart height in rows (2-500)."),
    tag: Optional[str] = typer.Option(None, "--tag", help="The series to read from a log SOURCE (default: its LR)."),
) -> None:
    """Draw one or more schedules (and logged LRs, as points): in the terminal, or to an image or HTML page
    with -o."""
    from ..keypoints import boundary_steps, parse_step, shown_until
    from ..render.terminal import Series, phase_legend, render

    sources = sources or [common.piped_source()]
    logged, loaded = _logs_and_plans(sources, fmt, steps, lr, sets, tag)
    for ld in loaded:
        for n in ld.notes:
            common.note(n)
    if logged:
        return _plot_with_logs(loaded, logged, sources, output, until, mark, log_y, width, height)
    first = loaded[0].schedule
    k_max = shown_until([ld.schedule for ld in loaded], until,
                        at_least=max(ld.raw.get("_next_step", 0) for ld in loaded))
    marks = tuple(parse_step(m, first, what="--mark") for m in mark or [])
    series = [Series(ld.schedule, ld.label) for ld in loaded]
    if output is not None:
        from ..render.files import save_plot

        save_plot(series, Path(output), k_max=k_max, log_y=log_y, marks=marks, inputs=sources)
        common.note(f"wrote {output}")
        return
    con = common.console()
    w = width or min(max(con.width, 40), 120)
    bounds = tuple(b for b in boundary_steps(first) if b > 0)
    common.print_chart(con, render(series, k_max, width=w, height=height, log_y=log_y, marks=marks,
                                   boundaries=bounds[1::2]))
    print(phase_legend(first))
    _companion_charts(con, loaded, k_max, w, height)


def _companion_charts(con, loaded, k_max: int, width: int, height: int) -> None:
    """Weight decay, momentum and LR-group curves, one small chart each under the LR chart."""
    from ..evaluate import companion_values
    from ..render.terminal import render_curves

    names = []
    for ld in loaded:
        s = ld.schedule
        names += [n for n in ("weight_decay", "momentum") if getattr(s, n) is not None] + [g for g, _ in s.groups]
    for name in dict.fromkeys(names):
        curves = [(ld.label, (lambda x, s=ld.schedule: companion_values(s, name, x)), ())
                  for ld in loaded if name in ("weight_decay", "momentum") and getattr(ld.schedule, name) is not None
                  or name in dict(ld.schedule.groups)]
        title = name.replace("_", " ") if name in ("weight_decay", "momentum") else f"LR of group {name}"
        print(f"{title}:")
        common.print_chart(con, render_curves(curves, k_max, width=width, height=max(3, height // 2), tight=True))


def _logs_and_plans(sources, fmt, steps, lr, sets, tag):
    """SOURCEs split into training logs (lrplan.logs.LogSeries) and schedules (Loaded), in order."""
    from ..sources import load_log, log_source

    logged, loaded = [], []
    for s in sources:
        if log_source(s, fmt) is not None:
            series = load_log(s, fmt, common.read_options(steps, lr, sets), tag)
            for n in series.notes:
                common.note(n)
            logged.append(series)
        else:
            loaded.append(common.load(s, fmt, steps, lr, sets))
    return logged, loaded


def _plot_with_logs(loaded, logged, sources, output, until, mark, log_y, width, height) -> None:
    """Planned curves as lines, logged LRs as points, over the longer of the plans and the logs."""
    from ..keypoints import parse_step, shown_until
    from ..render.terminal import Series, phase_legend

    last = max(s.last for s in logged)
    if loaded:
        k_max = shown_until([ld.schedule for ld in loaded], until, at_least=last)
        k_max = max(k_max, last) if until is None else k_max
        marks = tuple(parse_step(m, loaded[0].schedule, what="--mark") for m in mark or [])
    else:
        k_max = last if until is None else _plain_step(until, "--until")
        marks = tuple(_plain_step(m, "--mark") for m in mark or [])
    series = [Series(ld.schedule, ld.label) for ld in loaded]
    if output is not None:
        from ..render.files import kind_of, save_page
        from ..render.logs import overlay_page

        page = overlay_page(series, logged, k_max, log_y=log_y, marks=marks, html=kind_of(Path(output)) == "html")
        save_page(page, Path(output), inputs=sources)
        common.note(f"wrote {output}")
        return
    from ..render.logs import chart

    con = common.console()
    w = width or min(max(con.width, 40), 120)
    common.print_chart(con, chart(series, logged, k_max, width=w, height=height, log_y=log_y, marks=marks))
    if loaded:
        print(phase_legend(loaded[0].schedule))


def _plain_step(text: str, what: str) -> int:
    from ..quantity import QuantityError, parse_quantity

    try:
        q = parse_quantity(text)
    except QuantityError as e:
        raise LrplanError(f"{what}: {e}") from None
    if q.unit or q.value != int(q.value) or q.value < 0:
        raise LrplanError(f"{what}: {text} is not a step (with only logs to plot, give a whole number of steps)")
    return int(q.value)


TABLE_EXAMPLES = """Examples:

  lrplan table "warmup=2000,cosine,min=0.1" --steps 100k --lr 3e-4

  lrplan table ds_config.json --at 0,1,2,500,10000 --format csv

  lrplan table "warmup=2000,cosine" --steps 100k --every 10k --format json
"""


def table(
    source: Optional[str] = typer.Argument(None, metavar="SOURCE",
                                           help="The schedule (spec, preset, config, checkpoint)."
                                           + common.STDIN_HELP, show_default=False),
    at: Optional[str] = typer.Option(None, "--at", help="Steps to show, e.g. 0,1,500,50%,1.5M."),
    every: Optional[str] = typer.Option(None, "--every", help="A row every N steps."),
    output_format: str = typer.Option("text", "--format", "-f",
                                      help="text, csv, json or md. In csv and json every number reads back"
                                      " exactly: the shortest digits that do (0.0003, 0.00003, 1.5e-7); text"
                                      " and md round to 6 digits. Long --every tables stream, in flat memory."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> None:
    """Key points of a schedule (phase boundaries, 25/50/75/90%, end) or chosen steps."""
    from ..keypoints import named, points, table_steps
    from ..render.tables import STREAM_ROWS, render_table, stream_table

    if output_format not in ("text", "csv", "json", "md"):
        raise LrplanError(f"--format must be text, csv, json or md, got {output_format!r}")
    ld = common.load(source if source is not None else common.piped_source(), fmt, steps, lr, sets)
    for n in ld.notes:
        common.note(n)
    position = ld.raw.get("_next_step")
    chosen, notes = table_steps(ld.schedule, at, every,
                                {position: "the checkpoint's next update"} if position is not None else None)
    if isinstance(chosen, range) and len(chosen) > STREAM_ROWS:
        stream_table(sys.stdout.write, ld, chosen, output_format)  # chunk by chunk: memory stays flat
        return
    pts = named(points(ld.schedule, list(chosen), notes), ld)
    text = render_table(pts, ld, output_format)
    sys.stdout.write(text)


AT_STEP_EXAMPLES = """Examples:

  lrplan at-step 53210 "warmup=2000,cosine,min=0.1" --steps 100k --lr 3e-4

  lrplan at-step 53210 "warmup=2000,cosine,min=0.1" --steps 100k --lr 3e-4 --json

  lrplan at-step 53210 runs/gpt/          (a checkpoint: the resume calculator)
"""


def at_step(
    step: str = typer.Argument(..., metavar="STEP", help="Optimizer step (0-based), e.g. 53210, 50%, 1.5M."),
    source: Optional[str] = typer.Argument(None, metavar="SOURCE",
                                           help="The schedule (spec, preset, config) or a checkpoint."
                                           + common.STDIN_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
    plan: Optional[str] = typer.Option(None, "--plan", help="A new config to resume a checkpoint with."),
    config: Optional[str] = typer.Option(None, "--config", help="The run's config when the checkpoint lacks it."),
) -> int:
    """The LR at one step; with a checkpoint, what the resumed run will use."""
    from ..keypoints import at_step_point
    from ..sources import checkpoint_path

    source = source if source is not None else common.piped_source()
    path = checkpoint_path(source, fmt)
    if path is not None:
        return _checkpoint_at_step(step, path, common.read_options(steps, lr, sets), plan, config, as_json,
                                   (steps, lr, sets))
    if plan is not None:
        raise LrplanError("--plan compares a new config with a checkpoint; SOURCE is not a checkpoint")
    ld = common.load(source, fmt, steps, lr, sets)
    out = at_step_point(ld, step)
    if as_json:
        print(json.dumps(out))
        return 0
    unit = " × peak" if out["multiplier"] else ""
    n = out["total_steps"]
    where = f", {100 * out['step'] / n:.1f}% of {n}" if n else ""
    print(f"step {out['step']}: lr {out['lr']:.6g}{unit} ({out['phase']}{where})")
    for name, value in out.get("companions", {}).items():
        print(f"  {name.replace('_', ' ')} {value:.6g}")
    for n_ in ld.notes:
        common.note(n_)
    if out.get("framework_step"):
        common.note(out["framework_step"])
    return 0


def _checkpoint_at_step(step, path, opts, plan, config, as_json, load_args) -> int:
    from ..checkpoints import read_info
    from ..checkpoints.report import at_step, mismatch
    from ..errors import ExitCode
    from ..render.reports import at_step_text

    new = common.load(plan, None, *load_args) if plan is not None else None
    info = read_info(path, opts, config=config, plan=new)
    out = at_step(step, info, plan=new, opts=opts, config=config)
    if as_json:
        print(json.dumps(out, default=str))
    else:
        sys.stdout.write(at_step_text(out))
        for n in info.notes:  # how the checkpoint was read (a schedule rebuilt, args at odds with the state)
            common.note(n)
    return int(ExitCode.MISMATCH) if mismatch(out) else 0


CONVERT_EXAMPLES = """Examples:

  lrplan convert "warmup=2000,cosine,min=0.1" --steps 100k --lr 3e-4 --to deepspeed

  lrplan convert ds_config.json --to megatron

  lrplan convert "warmup=2000,cosine,min=0.1" --steps 100k --to json -o plan.json
"""


def convert(
    source: Optional[str] = typer.Argument(None, metavar="SOURCE",
                                           help="The schedule (spec, preset, config, checkpoint)."
                                           + common.STDIN_HELP, show_default=False),
    to: str = typer.Option(..., "--to", help="Target: megatron, deepspeed, hf, torch, lightning, torchtitan, optax, "
                                             "composer, nemo, olmo-core, timm, torchtune, axolotl, schedulefree, "
                                             "spec, json."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write to a file instead of stdout."),
    approx: bool = typer.Option(False, "--approx", help="Emit the nearest expressible config and its deviation."),
    variant: Optional[str] = typer.Option(None, "--variant", help="Output variant (hf: yaml, json, python; deepspeed: json, python; nemo: yaml, python; timm: yaml, flags; ...)."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> None:
    """A ready-to-paste, exactly equivalent config for another stack."""
    from ..version import __version__
    from ..convert import convert as write, target_format
    from ..frameworks.base import WriteOptions

    source = source if source is not None else common.piped_source()
    target = target_format(to)
    if variant is None and output is not None:
        variant = target.variants.get(output.suffix.lower())  # -o recipe.yaml asks for YAML, not Python
    ld = common.load(source, fmt, steps, lr, sets)
    for n in ld.notes:
        common.note(n)
    try:
        written = write(ld.schedule, to, WriteOptions(approx=approx, source_label=ld.label, variant=variant,
                                                      version=__version__,
                                                      facts=common.read_options(None, None, sets).extra))
    except InexpressibleError as e:
        if "--approx" in (e.hint or "") and not approx:
            e.hint = f"{e.hint}: {common.command_line('--approx')}"
        raise
    for n in written.notes:
        common.note(n)
    if output is not None:
        common.write_atomic(output, written.text, inputs=[source])
        common.note(f"wrote {output}")
    else:
        sys.stdout.write(written.text)
