"""Pure parts of the register: rules parsing, warning evaluation, workflow, matching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from finishscan.errors import ConfigError, RegisterError, TransitionError
from register import DetectedDefect, Facts, ProjectFacts, UnitFacts, evaluate_warnings, parse_rules
from register.early_warning import worst_level
from register.repository import iou, match_boxes, version_key
from register.rules import Thresholds, load_rules
from register.workflow import TRANSITIONS, check_transition, default_deadline, is_overdue

RULES = parse_rules(
    {
        "unit": {
            "open_defects": {"amber": 3, "red": 6},
            "labels": {"crack": "amber", "stain": "red"},
        },
        "project": {
            "rectification_rate": {"target": 0.8, "min_defects": 10, "min_age_days": 7},
            "overdue": {"amber": 1, "red": 5},
        },
        "deadlines": {"minor_hours": 24, "general_days": 10},
        "default_tier": {"tile_chip": "minor"},
    }
)
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_shipped_rules_parse() -> None:
    r = load_rules()
    assert r.unit_open == Thresholds(5, 10)
    assert r.unit_labels["crack"] == "amber"
    assert r.tier_for("tile_chip") == "minor" and r.tier_for("unknown_label") == "general"


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({"unit": {"open_defects": {"amber": 5, "red": 2}}}, "red threshold"),
        ({"unit": {"open_defect": {"amber": 5}}}, "unit.open_defect"),
        ({"unit": {"labels": {"crack": "orange"}}}, "unit.labels.crack"),
        ({"default_tier": {"crack": "complex"}}, "default_tier.crack"),
        ({"project": {"rectification_rate": {"target": 1.5}}}, "target"),
        ({"deadlines": {"general_days": 0}}, "general_days"),
        (["not", "a", "mapping"], "warning rules"),
    ],
)
def test_bad_rules_are_config_errors(doc: object, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        parse_rules(doc)


def test_missing_rules_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_rules(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("unit: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_rules(tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    ("amber", "red", "count", "level"),
    [
        (3, 6, 0, None),
        (3, 6, 2, None),
        (3, 6, 3, "amber"),
        (3, 6, 5, "amber"),
        (3, 6, 6, "red"),
        (3, 6, 60, "red"),
        (None, 6, 5, None),
        (3, None, 100, "amber"),
        (None, None, 100, None),
    ],
)
def test_thresholds(amber: int | None, red: int | None, count: int, level: str | None) -> None:
    assert Thresholds(amber, red).level(count) == level


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (Facts(), []),
        (Facts(units=[UnitFacts("u1", {"hollow_tile": 2})]), []),
        (Facts(units=[UnitFacts("u1", {"hollow_tile": 3})]), [("u1", "open_defects", "amber")]),
        (
            Facts(units=[UnitFacts("u1", {"hollow_tile": 5, "tile_chip": 1})]),
            [("u1", "open_defects", "red")],
        ),
        (Facts(units=[UnitFacts("u1", {"crack": 1})]), [("u1", "label:crack", "amber")]),
        (
            Facts(units=[UnitFacts("u1", {"crack": 2, "stain": 1}), UnitFacts("u2", {"crack": 0})]),
            [
                ("u1", "open_defects", "amber"),
                ("u1", "label:crack", "amber"),
                ("u1", "label:stain", "red"),
            ],
        ),
        # project: 10 aged, 7 rectified = 70% < 80% → amber; 9 aged → too few to judge
        (
            Facts(project=ProjectFacts(aged=10, aged_rectified=7)),
            [(None, "rectification_rate", "amber")],
        ),
        (Facts(project=ProjectFacts(aged=10, aged_rectified=8)), []),
        (Facts(project=ProjectFacts(aged=9, aged_rectified=0)), []),
        (Facts(project=ProjectFacts(overdue=1)), [(None, "overdue", "amber")]),
        (Facts(project=ProjectFacts(overdue=5)), [(None, "overdue", "red")]),
        (Facts(project=ProjectFacts(overdue=0)), []),
    ],
)
def test_evaluate_warnings(facts: Facts, expected: list[tuple[str | None, str, str]]) -> None:
    got = [(d.unit, d.rule, d.level) for d in evaluate_warnings(facts, RULES)]
    assert got == expected


def test_decision_subject_and_worst() -> None:
    ds = evaluate_warnings(
        Facts(units=[UnitFacts("3-2-1701", {"stain": 1})], project=ProjectFacts(overdue=1)), RULES
    )
    assert [d.subject for d in ds] == ["unit:3-2-1701", "project"]
    assert (
        worst_level([]) == "none"
        and worst_level(["amber"]) == "amber"
        and worst_level(["amber", "red"]) == "red"
    )


ALLOWED = {
    ("open", "rectifying"),
    ("open", "rejected"),
    ("rectifying", "rectified"),
    ("rectifying", "rejected"),
    ("rectified", "verified"),
    ("rectified", "rectifying"),
    ("rejected", "open"),
}


@pytest.mark.parametrize("src", list(TRANSITIONS))
@pytest.mark.parametrize("dst", list(TRANSITIONS))
def test_transition_table(src: str, dst: str) -> None:
    if (src, dst) in ALLOWED:
        check_transition(src, dst)
    else:
        with pytest.raises(TransitionError):
            check_transition(src, dst)


def test_unknown_status_refused() -> None:
    with pytest.raises(TransitionError, match="unknown status"):
        check_transition("open", "done")


@pytest.mark.parametrize(
    ("tier", "expected"),
    [("minor", T0 + timedelta(hours=24)), ("general", T0 + timedelta(days=10)), ("complex", None)],
)
def test_default_deadline(tier: str, expected: datetime | None) -> None:
    assert default_deadline(tier, T0, RULES) == expected


@pytest.mark.parametrize(
    ("status", "deadline", "now", "overdue"),
    [
        ("open", T0, T0 + timedelta(seconds=1), True),
        ("rectifying", T0, T0 + timedelta(days=1), True),
        ("open", T0, T0, False),
        ("open", None, T0 + timedelta(days=999), False),
        ("rectified", T0, T0 + timedelta(days=1), False),
        ("verified", T0, T0 + timedelta(days=1), False),
        ("rejected", T0, T0 + timedelta(days=1), False),
    ],
)
def test_is_overdue(status: str, deadline: datetime | None, now: datetime, overdue: bool) -> None:
    assert is_overdue(status, deadline, now) is overdue


@pytest.mark.parametrize(
    ("a", "b", "value"),
    [
        ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),
        ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),
        ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),
        ((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100),
        ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),
    ],
)
def test_iou(a: tuple, b: tuple, value: float) -> None:
    assert iou(a, b) == pytest.approx(value)


def test_match_boxes_greedy_same_label() -> None:
    old = [("crack", (0, 0, 10, 10)), ("stain", (50, 50, 60, 60)), ("crack", (100, 0, 110, 10))]
    new = [
        ("crack", (101, 0, 111, 10)),
        ("crack", (0, 0, 10, 11)),
        ("tile_chip", (50, 50, 60, 60)),
        ("crack", (200, 200, 210, 210)),
    ]
    assert match_boxes(old, new) == [(0, 1), (2, 0)]
    # one-to-one: two new boxes on one old box, only the better one matches
    assert match_boxes(
        [("crack", (0, 0, 10, 10))], [("crack", (0, 0, 10, 9)), ("crack", (0, 0, 10, 10))]
    ) == [(0, 1)]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("v10", "v9"),
        ("1.2.10", "1.2.9"),
        ("2", "1"),
        ("2026-11-23", "2026-11-09"),
        ("1.0.1", "1.0"),
    ],
)
def test_version_key_natural_order(a: str, b: str) -> None:
    assert version_key(a) > version_key(b)


@pytest.mark.parametrize(
    ("label", "conf", "box"),
    [
        ("", 0.5, (0, 0, 1, 1)),
        ("crack", 1.5, (0, 0, 1, 1)),
        ("crack", 0.5, (5, 0, 1, 1)),
        ("crack", 0.5, (0, 0, float("nan"), 1)),
        ("crack", -0.1, (0, 0, 1, 1)),
        ("crack", 0.5, (0, 3, 1, 3)),
    ],
)
def test_detected_defect_validates(label: str, conf: float, box: tuple) -> None:
    with pytest.raises(RegisterError):
        DetectedDefect(label, conf, box)


def test_open_defect_level_is_monotonic_in_the_count() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    labels = st.sampled_from(["crack", "stain", "hollow_tile", "tile_chip"])
    rank = {None: 0, "amber": 1, "red": 2}

    @given(st.dictionaries(labels, st.integers(0, 20)), labels, st.integers(1, 5))
    def check(counts: dict[str, int], label: str, extra: int) -> None:
        def level(c: dict[str, int]) -> str | None:
            ds = [
                d
                for d in evaluate_warnings(Facts(units=[UnitFacts("u", c)]), RULES)
                if d.rule == "open_defects"
            ]
            return ds[0].level if ds else None

        more = {**counts, label: counts.get(label, 0) + extra}
        assert rank[level(more)] >= rank[level(counts)]
        fired = {d.rule for d in evaluate_warnings(Facts(units=[UnitFacts("u", counts)]), RULES)}
        assert {r for r in fired if r.startswith("label:")} == {
            f"label:{lb}" for lb, n in counts.items() if n > 0 and lb in RULES.unit_labels
        }

    check()
