"""diff: where and how much two schedules differ; exit 1 when they do (a CI guard)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from ..errors import ExitCode, LrplanError
from . import common


def register(app: typer.Typer) -> None:
    # A or B may be a flag string ("--lr 3e-4 ..."): pass it through as an argument, not an option.
    app.command(epilog=DIFF_EXAMPLES, context_settings={"ignore_unknown_options": True})(diff)


DIFF_EXAMPLES = """Examples:

  lrplan diff "warmup=2000,cosine,min=0.1" ds_config.json --steps 100k --lr 3e-4

  lrplan diff megatron_flags.txt hf_recipe.yaml -o diff.html

  lrplan diff plan.json run.json --json --tolerance 1e-9

  lrplan diff "warmup=2000,cosine,min=0.1" runs/ --steps 100k --lr 3e-4   (a log against the plan)

Exit status: 0 when equal within the tolerance, 1 when they differ, 2 on bad input.
"""


def diff(
    a: str = typer.Argument(..., metavar="A", help="Schedule A (spec, preset, config, checkpoint), or a training log "
                                                 "(then B is compared at every logged step, as `lrplan check`)."),
    b: str = typer.Argument(..., metavar="B", help="Schedule B, compared against A."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Also write .png/.svg/.pdf/.html."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as a JSON object."),
    tolerance: float = typer.Option(1e-12, "--tolerance", help="Relative tolerance (default: the exactness "
                                                                 "contract, 1e-12)."),
    abs_tolerance: float = typer.Option(1e-18, "--abs-tolerance", help="Absolute tolerance, for LRs near 0."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
    chart: bool = typer.Option(True, "--chart/--no-chart", help="Draw the overlay and difference charts."),
    width: Optional[int] = typer.Option(None, "--width", min=10, max=1000, help="Terminal chart width in columns (10-1000)."),
    height: int = typer.Option(12, "--height", min=2, max=500, help="Terminal chart height in rows, each chart (2-500)."),
    tag: Optional[str] = typer.Option(None, "--tag", help="The series to read from a log SOURCE (default: its LR)."),
) -> int:
    """Compare two schedules step by step (or token by token when their batch sizes differ)."""
    from ..diff import compare, summary_lines, to_json
    from ..diff import tolerance as checked_tolerance

    tol = checked_tolerance(tolerance, abs_tolerance)
    from ..sources import log_source

    is_log = (log_source(a, fmt) is not None, log_source(b, fmt) is not None)
    if any(is_log):
        return _diff_log(a, b, is_log, fmt, steps, lr, sets, tag, tolerance, output, as_json, chart, width, height)
    la = common.load(a, fmt, steps, lr, sets)
    lb = common.load(b, fmt, steps, lr, sets)
    for tag, ld in (("A", la), ("B", lb)):
        for n in ld.notes:
            common.note(f"{tag}: {n}")
    al, result = compare(la.schedule, lb.schedule, tol)
    labels = (la.label, lb.label)
    if output is not None:
        from ..render.files import save_diff

        save_diff(al, result, labels, Path(output), inputs=[a, b])
        common.note(f"wrote {output}")
    if as_json:
        print(json.dumps(to_json(result, *labels), indent=2))
    else:
        for line in summary_lines(result, *labels):
            print(line)
        for n in result.notes:
            common.note(n)
        _key_points(result)
        if chart:
            _charts(al, labels, width, height)
    return ExitCode.OK if result.equal else ExitCode.DIFFERENT


def _diff_log(a, b, is_log, fmt, steps, lr, sets, tag, tolerance, output, as_json, chart, width, height) -> int:
    """A log on one side: the plan on the other is compared at every logged step, as ``lrplan check`` does
    (the log's own precision, its step rule, the named diagnoses)."""
    from ..runcheck import check
    from ..sources import load_log

    if all(is_log):
        raise LrplanError("both A and B are training logs; diff compares a log with a plan",
                          hint=f'fit one of them first: lrplan diff {a} "$(lrplan fit {b})"')
    log, plan = (a, b) if is_log[0] else (b, a)
    series = load_log(log, fmt, common.read_options(steps, lr, sets), tag)
    ld = common.load(plan, None if fmt and fmt.startswith("log") else fmt, steps, lr, sets)
    result = check(series, ld.schedule, ld.label, extra_rel=None if tolerance == 1e-12 else tolerance)
    if output is not None:
        from ..render.files import kind_of, save_page
        from ..render.logs import check_page

        save_page(check_page(result, html=kind_of(Path(output)) == "html"), Path(output), inputs=[a, b])
        common.note(f"wrote {output}")
    if as_json:
        print(json.dumps(result.as_dict(), indent=2, default=float))
    else:
        from ..render.logs import check_lines

        for line in check_lines(result):
            print(line)
        for n in list(series.notes) + list(ld.notes) + result.notes:
            common.note(n)
        if chart:
            from .logs import _chart

            _chart([result.schedule], [series], ld.label, max(series.last, result.plan_total or 0), width, height)
    return ExitCode.OK if result.on_plan else ExitCode.DIFFERENT


def _key_points(result) -> None:
    from ..diff import key_point_table

    head, rows = key_point_table(result)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    print()
    print("  ".join(h.rjust(w) if i < len(head) - 1 else h for i, (h, w) in enumerate(zip(head, widths))))
    for r in rows:
        print("  ".join(c.rjust(w) if i < len(r) - 1 else c for i, (c, w) in enumerate(zip(r, widths))).rstrip())


def _charts(al, labels, width, height) -> None:
    from ..render.terminal import render_curves

    con = common.console()
    w = width or min(max(con.width, 40), 120)
    x_label = "step" if al.unit == "steps" else al.unit
    keep = al.keep()
    bounds = keep[1::2]
    overlay = render_curves([("A: " + labels[0], al.lr_a, keep), ("B: " + labels[1], al.lr_b, keep)], al.x_max,
                            x_label=x_label, width=w, height=height, boundaries=bounds)
    delta = render_curves([("A − B", lambda x: al.lr_a(x) - al.lr_b(x), keep)], al.x_max, x_label=x_label,
                          width=w, height=max(4, height // 2), boundaries=bounds)
    print()
    common.print_chart(con, overlay)
    print("difference A − B:")
    common.print_chart(con, delta)
