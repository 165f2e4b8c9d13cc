"""Composer's lint facts (docs/lint.md LR031-LR033): pitfalls of its time strings and its trainer."""

from __future__ import annotations

from ..base import LintRule

FIRST_STEP_FIX = ("Composer's warmup always starts at 0 and its one-batch lag gives updates 0 and 1 the same LR: "
                  "two updates at LR 0 under any warmup; keep t_warmup short, or accept them")


def _composer(f) -> bool:
    return f.format == "composer"


# ---- LR031 a `dur` time that truncates ----------------------------------------------------------------


def dur_truncates(f):
    """``0.02dur`` of ``max_duration: 2ep`` with 8 batches per epoch is int(0.32) = 0 batches: Composer warns
    'The warmup duration is 0' on every call and skips the warmup; any fractional part is dropped."""
    if not _composer(f):
        return []
    out = []
    for field, given, converted, value in f.raw.get("_conversions", ()):
        if not given.lower().endswith("dur"):
            continue
        try:
            frac = float(given[:-3])
        except ValueError:
            continue
        if value == 0 and frac > 0:
            out.append(((f"{field} {given} of max_duration {f.raw.get('_max_duration')} is 0 (int() truncates): "
                         f"Composer drops the {field.removeprefix('t_')} and warns 'The warmup duration is 0'"),
                        f"write {field} in batches (e.g. '{max(1, round(frac * 100))}ba') or raise the fraction",
                        field, None))
    return out


# ---- LR032 several schedulers -----------------------------------------------------------------------


def several_schedulers(f):
    names = f.raw.get("_schedulers") or []
    if not _composer(f) or len(names) < 2:
        return []
    return [((f"{len(names)} schedulers ({', '.join(map(str, names))}): each is its own LambdaLR that writes "
              f"initial_lr x its own alpha, so only the last ({names[-1]}) counts -- they do not stack"),
             "keep one scheduler (compose the curve in one of them)", "schedulers", None)]


# ---- LR033 dur times are not scaled by scale_schedule_ratio -------------------------------------------


def ssr_skips_dur(f):
    ssr = f.raw.get("_scale_schedule_ratio", 1.0)
    durs = [c for c in f.raw.get("_conversions", ()) if c[1].lower().endswith("dur")]
    others = [k for k, v in ((f.raw.get("_scheduler") or {}).get("kwargs") or {}).items()
              if isinstance(v, str) and v[-2:].lower() in ("ba", "ep", "sp") or isinstance(v, str)
              and v.lower().endswith("tok")]
    if not _composer(f) or ssr == 1.0 or not durs or not others:
        return []
    return [((f"scale_schedule_ratio {ssr:g} scales {', '.join(others)} but not {', '.join(c[0] for c in durs)} "
              "(dur fractions of the scaled max_duration are converted without the ratio): the schedule's parts "
              "move apart"), "write every time in dur, or every time in ba/ep", durs[0][0], None)]


RULES = (
    LintRule("LR031", "composer-dur-truncates", "warning", "a Composer `dur` time that truncates to 0", dur_truncates),
    LintRule("LR032", "composer-several-schedulers", "error", "several Composer schedulers (only the last counts)",
             several_schedulers),
    LintRule("LR033", "composer-ssr-skips-dur", "warning", "`scale_schedule_ratio` does not scale `dur` times",
             ssr_skips_dur),
)
