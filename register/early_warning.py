"""Early warning as a pure function: facts in, the warnings that should be active out.

The repository (``register.repository.warnings``) gathers :class:`Facts` with SQL and
reconciles the result with the stored warnings (raise new, clear gone, both recorded). Example::

    facts = Facts(units=[UnitFacts("3-2-1701", {"crack": 1, "stain": 5})])
    evaluate_warnings(facts, rules)
    # [Decision(scope="unit", unit="3-2-1701", rule="open_defects", level="amber", ...),
    #  Decision(scope="unit", unit="3-2-1701", rule="label:crack", level="amber", ...), ...]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from register.rules import Level, Rules


@dataclass(frozen=True)
class UnitFacts:
    """Open (open or rectifying, not superseded) defects of one unit, counted by label."""

    unit: str
    open_by_label: Mapping[str, int] = field(default_factory=dict)

    @property
    def open_defects(self) -> int:
        return sum(self.open_by_label.values())


@dataclass(frozen=True)
class ProjectFacts:
    """``aged``: defects registered at least ``min_age_days`` ago (false alarms excluded);
    ``aged_rectified``: of those, rectified or verified; ``overdue``: open/rectifying past deadline."""

    aged: int = 0
    aged_rectified: int = 0
    overdue: int = 0


@dataclass(frozen=True)
class Facts:
    units: Sequence[UnitFacts] = ()
    project: ProjectFacts | None = None  # None: project rules not evaluated


@dataclass(frozen=True)
class Decision:
    scope: Literal["unit", "project"]
    unit: str | None
    rule: str
    level: Level
    detail: str

    @property
    def subject(self) -> str:
        return f"unit:{self.unit}" if self.scope == "unit" else "project"


def evaluate_warnings(facts: Facts, rules: Rules) -> list[Decision]:
    """The warnings that should be active for these facts, in a stable order.

    Unit rules: ``open_defects`` (count thresholds) and ``label:<name>`` (any open defect of
    that label). Project rules: ``rectification_rate`` (below target with enough aged defects)
    and ``overdue`` (count thresholds).
    """
    out: list[Decision] = []
    for u in facts.units:
        n = u.open_defects
        if level := rules.unit_open.level(n):
            out.append(Decision("unit", u.unit, "open_defects", level, f"{n} open defects"))
        for label, lvl in sorted(rules.unit_labels.items()):
            k = u.open_by_label.get(label, 0)
            if k > 0:
                out.append(Decision("unit", u.unit, f"label:{label}", lvl, f"{k} open {label}"))
    p = facts.project
    if p is not None:
        rr = rules.rectification_rate
        if rr is not None and p.aged >= rr.min_defects and p.aged > 0:
            rate = p.aged_rectified / p.aged
            if rate < rr.target:
                out.append(
                    Decision(
                        "project",
                        None,
                        "rectification_rate",
                        rr.level,
                        f"{rate:.0%} of {p.aged} defects rectified (target {rr.target:.0%})",
                    )
                )
        if level := rules.overdue.level(p.overdue):
            out.append(Decision("project", None, "overdue", level, f"{p.overdue} overdue defects"))
    return out


def worst_level(levels: Sequence[str]) -> Literal["none", "amber", "red"]:
    """``"red"`` if any red, else ``"amber"`` if any, else ``"none"``."""
    if "red" in levels:
        return "red"
    if "amber" in levels:
        return "amber"
    return "none"
