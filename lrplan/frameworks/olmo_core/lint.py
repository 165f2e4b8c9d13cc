"""OLMo-core's lint facts (docs/lint.md LR034)."""

from __future__ import annotations

from ..base import LintRule


def decay_fraction_dropped(f):
    """``as_config_dict()`` leaves out ``decay_fraction: None``; ``from_dict`` restores 0.1 and refuses the pair."""
    if f.format != "olmo-core":
        return []
    found = []

    def walk(sched, where):
        if sched.get("_roundtrip_bug"):
            found.append(where)
        for i, sub in enumerate(sched.get("schedulers") or ()):
            walk(sub, f"{where}.schedulers.{i}")

    walk(f.raw.get("_scheduler") or {}, f.raw.get("_where", "scheduler"))
    return [((f"{w} sets decay but not decay_fraction: OLMo-core's Config.from_dict restores the default "
              "decay_fraction 0.1 and raises OLMoConfigurationError ('Either decay_fraction or decay must be "
              "specified'), so this saved config.json does not load back"),
             f"add \"decay_fraction\": null to {w}", f"{w}.decay_fraction", None) for w in found]


RULES = (
    LintRule("LR034", "olmo-core-decay-fraction-dropped", "warning",
             "an OLMo-core config.json whose `decay` lost its `decay_fraction: null`", decay_fraction_dropped),
)
