"""Warning rules, deadlines and tiers from ``configs/warnings.yaml``.

Pydantic validates the YAML at the edge and builds the typed, frozen :class:`Rules`;
core code only ever sees :class:`Rules`. ``load_rules().unit_open.amber == 5`` for the
shipped file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from finishscan.errors import ConfigError
from finishscan.paths import CONFIGS

Level = Literal["amber", "red"]
Tier = Literal["minor", "general", "complex"]

DEFAULT_RULES_PATH = CONFIGS / "warnings.yaml"


@dataclass(frozen=True)
class Thresholds:
    """``count >= red`` → red, else ``count >= amber`` → amber (``None`` disables a level)."""

    amber: int | None
    red: int | None

    def level(self, count: int) -> Level | None:
        if self.red is not None and count >= self.red:
            return "red"
        if self.amber is not None and count >= self.amber:
            return "amber"
        return None


@dataclass(frozen=True)
class RateRule:
    target: float
    min_defects: int
    min_age_days: float
    level: Level


@dataclass(frozen=True)
class RiskWeights:
    red_warning: float = 3.0
    amber_warning: float = 1.0
    open_per_unit: float = 1.0
    overdue_share: float = 5.0
    unrectified_share: float = 2.0
    high_at: float = 5.0
    low_below: float = 1.0


@dataclass(frozen=True)
class Rules:
    unit_open: Thresholds
    unit_labels: dict[str, Level]
    rectification_rate: RateRule | None
    overdue: Thresholds
    minor_hours: float
    general_days: float
    default_tier: dict[str, Tier]
    fallback_tier: Tier
    risk: RiskWeights = field(default_factory=RiskWeights)

    def tier_for(self, label: str) -> Tier:
        return self.default_tier.get(label, self.fallback_tier)


# ---- the YAML schema (edge only) -------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Thresholds(_Strict):
    amber: int | None = Field(default=None, ge=1)
    red: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> _Thresholds:
        if self.amber is not None and self.red is not None and self.red < self.amber:
            raise ValueError("red threshold must not be below amber")
        return self


class _Unit(_Strict):
    open_defects: _Thresholds = _Thresholds()
    labels: dict[str, Level] = {}


class _Rate(_Strict):
    target: float = Field(ge=0, le=1)
    min_defects: int = Field(default=1, ge=1)
    min_age_days: float = Field(default=0, ge=0)
    level: Level = "amber"


class _Project(_Strict):
    rectification_rate: _Rate | None = None
    overdue: _Thresholds = _Thresholds()


class _Deadlines(_Strict):
    minor_hours: float = Field(default=24, gt=0)
    general_days: float = Field(default=14, gt=0)


class _Risk(_Strict):
    red_warning: float = 3.0
    amber_warning: float = 1.0
    open_per_unit: float = 1.0
    overdue_share: float = 5.0
    unrectified_share: float = 2.0
    high_at: float = 5.0
    low_below: float = 1.0


class _File(_Strict):
    unit: _Unit = _Unit()
    project: _Project = _Project()
    deadlines: _Deadlines = _Deadlines()
    default_tier: dict[str, Literal["minor", "general"]] = {}
    fallback_tier: Literal["minor", "general"] = "general"
    risk: _Risk = _Risk()


def parse_rules(doc: object) -> Rules:
    """Build :class:`Rules` from a parsed YAML document; ConfigError names the bad field."""
    try:
        f = _File.model_validate(doc if doc is not None else {})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"warning rules: {where}: {first['msg']}") from e
    rate = f.project.rectification_rate
    return Rules(
        unit_open=Thresholds(f.unit.open_defects.amber, f.unit.open_defects.red),
        unit_labels=dict(f.unit.labels),
        rectification_rate=(
            RateRule(rate.target, rate.min_defects, rate.min_age_days, rate.level) if rate else None
        ),
        overdue=Thresholds(f.project.overdue.amber, f.project.overdue.red),
        minor_hours=f.deadlines.minor_hours,
        general_days=f.deadlines.general_days,
        default_tier=dict(f.default_tier),
        fallback_tier=f.fallback_tier,
        risk=RiskWeights(**f.risk.model_dump()),
    )


def load_rules(path: Path | None = None) -> Rules:
    """Read and validate a warnings YAML (default ``configs/warnings.yaml``)."""
    path = Path(path) if path is not None else DEFAULT_RULES_PATH
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError as e:
        raise ConfigError(f"warning rules file not found: {path}") from e
    except yaml.YAMLError as e:
        raise ConfigError(f"warning rules file {path} is not valid YAML: {e}") from e
    try:
        return parse_rules(doc)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e
