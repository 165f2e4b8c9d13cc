"""explain, lint, presets."""

from __future__ import annotations

import json
import sys
from typing import List, Optional

import typer

from ..errors import LrplanError
from . import common


def register(app: typer.Typer) -> None:
    # A Megatron flag string ("--lr 3e-4 --lr-decay-style ...") is one SOURCE word that starts with "--":
    # let click pass such unknown "options" through to the SOURCE argument instead of rejecting them.
    flags_ok = {"ignore_unknown_options": True}
    app.command(epilog=EXPLAIN_EXAMPLES, context_settings=flags_ok)(explain)
    app.command(epilog=LINT_EXAMPLES, context_settings=flags_ok)(lint)
    app.command(epilog=PRESETS_EXAMPLES)(presets)


EXPLAIN_EXAMPLES = """Examples:

  lrplan explain "warmup=2000,cosine,min=0.1" --steps 100k --lr 3e-4

  lrplan explain "--lr 3e-4 --min-lr 3e-5 --lr-decay-style WSD --lr-wsd-decay-iters 2000 --lr-warmup-iters 500 --train-iters 20000"

  lrplan explain ds_config.json --steps 100k

  lrplan explain megatron-gpt3-175b --json
"""


def explain(
    source: Optional[str] = typer.Argument(None, metavar="SOURCE",
                                           help="The schedule (spec, preset, config, checkpoint)."
                                           + common.STDIN_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> None:
    """The schedule in plain words: phases, peak and floor, the conventions that apply, key points."""
    from .. import explain as ex

    ld = common.load(source if source is not None else common.piped_source(), fmt, steps, lr, sets)
    result = ex.explain(ld)
    if as_json:
        doc = ex.as_dict(result)
        from ..keypoints import key_steps, points

        rows = key_steps(ld.schedule)
        doc["points"] = [{"step": p.step, "lr": p.lr, "phase": p.phase, "note": p.note}
                         for p in points(ld.schedule, [k for k, _ in rows], dict(rows))]
        print(json.dumps(doc, indent=2))
        return
    sys.stdout.write(ex.as_text(result))
    sys.stdout.write("\nKey points:\n")
    from ..render.tables import key_point_text

    sys.stdout.write(key_point_text(ld))


LINT_EXAMPLES = """Examples:

  lrplan lint ds_config.json

  lrplan lint "--lr 3e-4 --train-iters 100000 --lr-decay-iters 80000 --lr-warmup-fraction 0.01"

  lrplan lint hf_args.yaml --json

  lrplan lint schedule.py --set gradient_accumulation_steps=16

  lrplan lint --list

Exit status: 0 when no rule of error severity fired, 4 when one did, 2 when the source cannot be read.
"""


def lint(
    source: Optional[str] = typer.Argument(None, metavar="SOURCE", help="The schedule (spec, preset, config, "
                                           "checkpoint)." + common.STDIN_HELP, show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON object instead of text."),
    ignore: Optional[List[str]] = typer.Option(None, "--ignore", help="Skip a rule by id, e.g. LR001 (repeatable)."),
    list_rules: bool = typer.Option(False, "--list", help="List the rules and exit."),
    steps: Optional[str] = common.steps_option(),
    lr: Optional[float] = common.lr_option(),
    fmt: Optional[str] = common.from_option(),
    sets: Optional[List[str]] = common.set_option(),
) -> int:
    """Check a schedule for known pitfalls; exit 4 when a rule of error severity fires."""
    from .. import lint as lt

    if list_rules:
        _print_rules(lt.rules_table(), as_json)
        return 0
    if source is None and sys.stdin.isatty():
        raise LrplanError("lint needs a SOURCE", hint="or pass --list to see the rules")
    source = source if source is not None else common.piped_source()
    skip = {x.strip().upper() for item in ignore or [] for x in item.split(",") if x.strip()}
    known = {r[0] for r in lt.rules_table()}
    for rid in skip - known:
        raise LrplanError(f"--ignore: no rule {rid}", hint="see `lrplan lint --list`")
    opts = common.read_options(steps, lr, sets)
    ld = common.load(source, fmt, steps, lr, sets)
    findings = lt.run(ld, dict(opts.extra), skip=skip)
    if as_json:
        sys.stdout.write(lt.as_json(findings, ld))
    else:
        for n in ld.notes:
            common.note(n)
        sys.stdout.write(lt.as_text(findings, ld))
    return lt.exit_code(findings)


def _print_rules(rows, as_json: bool) -> None:
    if as_json:
        print(json.dumps([{"rule": r, "name": n, "severity": s, "summary": d} for r, n, s, d in rows], indent=2))
        return
    from rich.table import Table

    t = Table(show_edge=False, pad_edge=False)
    for h in ("rule", "name", "severity", "pitfall"):
        t.add_column(h)
    for row in rows:
        t.add_row(*row)
    common.console().print(t)


PRESETS_EXAMPLES = """Examples:

  lrplan presets

  lrplan presets llama3-405b

  lrplan plot llama3-405b deepseek-llm-67b --steps 100%

  lrplan table megatron-gpt3-175b --steps 50%
"""


def presets(
    name: Optional[str] = typer.Argument(None, metavar="NAME", help="Show one preset with its source."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of text."),
) -> None:
    """Published schedules with their sources; a preset name is a SOURCE for every command."""
    from .. import presets as pr

    if name is None:
        items = list(pr.all_presets().values())
        if as_json:
            print(json.dumps([_preset_dict(p) for p in items], indent=2))
            return
        _preset_table(items)
        return
    p = pr.get(name)
    if as_json:
        print(json.dumps(_preset_dict(p), indent=2))
        return
    sys.stdout.write(_preset_text(p))


def _preset_dict(p) -> dict:
    return {"name": p.name, "title": p.title, "summary": p.summary, "spec": p.spec, "total": p.total,
            "peak_lr": p.peak_lr, "status": p.status, "approximated": p.approximated, "source": p.source,
            "notes": list(p.notes)}


def _preset_table(items) -> None:
    from rich.table import Table

    t = Table(show_edge=False, pad_edge=False)
    for h in ("name", "schedule", "peak", "status"):
        t.add_column(h, justify="right" if h == "peak" else "left")
    for p in items:
        t.add_row(p.name, p.title, f"{p.peak_lr:g}", p.status)
    common.console().print(t)
    print("\nShow one with its source: lrplan presets NAME. Use a name as a SOURCE: lrplan plot NAME --steps 100%")


def _preset_text(p) -> str:
    lines = [p.title, ""]
    if p.summary:
        lines += [p.summary, ""]
    lines += [f"name:    {p.name}", f"spec:    {p.spec_text()}", f"peak LR: {p.peak_lr:g}",
              f"status:  {p.status}"]
    if p.approximated:
        lines.append(f"approximated: {p.approximated}")
    lines.append(f"source:  {p.source_line()}")
    if p.source.get("url"):
        lines.append(f"         {p.source['url']}")
    for n in p.notes:
        lines.append(f"note:    {n}")
    lines += ["", f"Try: lrplan explain {p.name}    lrplan plot {p.name}    lrplan convert {p.name} --to megatron"]
    return "\n".join(lines) + "\n"
