"""``lrplan lint``: run the lint rules on a loaded source and report.

The rules are the generic ones of :mod:`lrplan.lint.rules` plus each dialect's own (``Format.lint``:
``RULES``, and ``HOOKS`` that refine a generic rule on that dialect's fields), so a framework's
pitfalls live with the framework. Findings carry the rule id, severity, a one-line message, the fix
and (where known) the config field and the step. Text for people, JSON for CI; the exit status is
:attr:`ExitCode.LINT` when a rule of error severity fired.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from ..batch import step_of_position
from ..errors import ExitCode
from ..ir import Schedule
from ..keypoints import total_steps

SEVERITY_ORDER = {"error": 0, "warning": 1}
DOCS = "docs/lint.md"


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str  # "error" | "warning"
    message: str
    fix: str
    where: str | None = None  # the config field or flag
    step: int | None = None




class Facts:
    """What the rules look at: the schedule, the raw config fields, the defaults applied, --set extras."""

    def __init__(self, loaded, extra: dict | None = None) -> None:
        self.loaded = loaded
        self.s: Schedule = loaded.schedule
        self.format = loaded.format
        self.raw = loaded.raw or {}
        self.defaults = set(self.raw.get("_defaults_applied", ()))
        self.extra = extra or {}
        self.n = total_steps(self.s)

    def get(self, *names):
        """The first of ``names`` present in raw (argparse dests, dashes or dotted paths)."""
        for name in names:
            for key in (name, name.replace("_", "-")):
                if key in self.raw and self.raw[key] is not None:
                    return self.raw[key]
            v = _dotted(self.raw, name)
            if v is not None:
                return v
        return None

    def number(self, *names) -> float | None:
        v = self.get(*names)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            try:
                return float(v) if isinstance(v, str) and v not in ("auto", "") else None
            except ValueError:
                return None
        return float(v)

    def step(self, position: float) -> int:
        return int(math.ceil(step_of_position(self.s.axis, position)))

    def peak(self) -> float:
        return self.s.peak

    def ds_config(self) -> tuple[dict | None, str]:
        """The DeepSpeed config this source uses (its own, or the one an HF config points at), and a prefix."""
        if self.format == "deepspeed" or "scheduler" in self.raw and isinstance(self.raw.get("scheduler"), dict):
            return self.raw, ""
        ds = self.get("deepspeed")
        if isinstance(ds, dict):
            return ds, "deepspeed."
        if isinstance(ds, str):
            from ..errors import LrplanError
            from ..frameworks.hf.deepspeed_section import load_config

            recipe = Path(self.loaded.label) if Path(self.loaded.label).is_file() else None
            try:  # the same file the reader used (a config it could not read was already an error there)
                return load_config(ds, recipe), "deepspeed."
            except LrplanError:
                return None, ""
        return None, ""

    def ds_defaulted(self, key: str) -> bool:
        return f"scheduler.params.{key}" in self.defaults or key in self.defaults


def _dotted(d: dict, path: str):
    cur = d
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def dialect_lint_modules():
    """The lint modules of every registered dialect that has one."""
    import importlib

    from .. import frameworks

    return [importlib.import_module(m) for m in dict.fromkeys(
        frameworks.get(name).lint for name in frameworks.MODULES) if m]


def all_rules():
    """Every rule, generic and per dialect, ordered by id."""
    from .rules import RULES

    rules = list(RULES) + [r for m in dialect_lint_modules() for r in getattr(m, "RULES", ())]
    return sorted(rules, key=lambda r: r.id)


def hooks(rule_id: str):
    """Dialect refinements of a generic rule (checks on that dialect's own fields), in registry order."""
    return [m.HOOKS[rule_id] for m in dialect_lint_modules() if rule_id in getattr(m, "HOOKS", {})]


def run(loaded, extra: dict | None = None, *, only: set[str] | None = None,
        skip: set[str] | None = None) -> list[Finding]:
    facts = Facts(loaded, extra)
    out: list[Finding] = []
    for rule in all_rules():
        if (only and rule.id not in only) or (skip and rule.id in skip):
            continue
        for message, fix, where, step in rule.check(facts):
            out.append(Finding(rule.id, rule.severity, message, fix, where, step))
    return sorted(out, key=lambda x: (SEVERITY_ORDER[x.severity], x.rule))


def exit_code(findings: list[Finding]) -> int:
    return int(ExitCode.LINT) if any(x.severity == "error" for x in findings) else int(ExitCode.OK)


def anchor(rule_id: str) -> str:
    return f"{DOCS}#{rule_id.lower()}"


def as_json(findings: list[Finding], loaded) -> str:
    doc = {"source": loaded.label, "format": loaded.format,
           "errors": sum(x.severity == "error" for x in findings),
           "warnings": sum(x.severity == "warning" for x in findings),
           "findings": [{"rule": x.rule, "severity": x.severity, "message": x.message, "fix": x.fix,
                         "where": x.where, "step": x.step, "docs": anchor(x.rule)} for x in findings]}
    return json.dumps(doc, indent=2) + "\n"


def as_text(findings: list[Finding], loaded) -> str:
    if not findings:
        return f"{loaded.label}: no known pitfalls found ({len(rules_table())} rules checked)\n"
    lines = []
    for x in findings:
        where = f" [{x.where}]" if x.where else ""
        lines.append(f"{x.rule} {x.severity}{where}: {x.message}")
        lines.append(f"  fix: {x.fix}")
        lines.append(f"  see: {anchor(x.rule)}")
    errors = sum(x.severity == "error" for x in findings)
    warnings = len(findings) - errors
    lines.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(lines) + "\n"


def rules_table() -> list[tuple[str, str, str, str]]:
    return [(r.id, r.name, r.severity, r.summary) for r in all_rules()]
