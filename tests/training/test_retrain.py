"""Retraining: the promotion rule (table), the split/replay helpers, and a tiny real run."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from training.card import read_card
from training.export import operating_thresholds
from training.retrain import comparison_table, holdout_split, promotion_decision, replay_sample

HERE = Path(__file__).parent


def ev(map50, **per):
    return {
        "map50": map50,
        "per_class": {k: {"ap50": v, "labels": 1 if v is not None else 0} for k, v in per.items()},
    }


@pytest.mark.parametrize(
    ("old", "new", "margin", "promote"),
    [
        (ev(0.5, crack=0.5), ev(0.6, crack=0.6), 0.02, True),
        (ev(0.5, crack=0.5), ev(0.5, crack=0.5), 0.02, True),  # equal is "not worse"
        (ev(0.5, crack=0.5), ev(0.49, crack=0.6), 0.02, False),  # overall worse
        (
            ev(0.5, crack=0.5, stain=0.5),
            ev(0.6, crack=0.9, stain=0.47),
            0.02,
            False,
        ),  # stain fell 0.03
        (
            ev(0.5, crack=0.5, stain=0.5),
            ev(0.6, crack=0.9, stain=0.485),
            0.02,
            True,
        ),  # within margin
        (
            ev(0.5, crack=0.5, stain=None),
            ev(0.6, crack=0.6, stain=None),
            0.0,
            True,
        ),  # unlabelled class not judged
    ],
)
def test_promotion_rule(old, new, margin, promote):
    decision = promotion_decision(old, new, margin=margin)
    assert decision.promote is promote
    assert bool(decision.reasons) is not promote


def test_comparison_table_lists_classes_and_verdict():
    old, new = ev(0.5, crack=0.5, stain=0.5), ev(0.6, crack=0.9, stain=0.47)
    t = comparison_table(old, new, promotion_decision(old, new))
    assert "| AP50 stain (1 labels) | 0.5000 | 0.4700 | -0.0300 |" in t
    assert "not promoted" in t and "stain AP50 fell" in t


def test_holdout_split_is_stable_and_roughly_sized():
    keys = [f"unit-{i}" for i in range(2000)]
    a = [holdout_split(k, 0.2, 7) for k in keys]
    assert a == [holdout_split(k, 0.2, 7) for k in keys]
    assert 0.17 < a.count("val") / len(a) < 0.23
    assert a != [holdout_split(k, 0.2, 8) for k in keys]


def test_replay_sample_is_seeded():
    imgs = [Path(f"{i}.jpg") for i in range(100)]
    s = replay_sample(imgs, 0.3, 1)
    assert len(s) == 30 and s == replay_sample(imgs, 0.3, 1) and s != replay_sample(imgs, 0.3, 2)
    assert replay_sample(imgs, 0.0, 1) == []


@pytest.mark.train
@pytest.mark.slow
def test_tiny_retrain_compares_and_promotes_by_the_rule(tiny_run, tmp_path, monkeypatch):
    sys.path.insert(0, str(HERE))
    import training.evaluate as evaluate

    # A one-epoch tiny model finds nothing, so no class has a max-F1 point of its own: give the
    # first class one in the (real) evaluation, to see it reach the new model's card.
    real = evaluate.evaluate_model

    def with_a_point(*args, **kwargs):
        r = real(*args, **kwargs)
        d = r.to_dict()
        d["per_class"][next(iter(d["per_class"]))]["conf_threshold_max_f1"] = 0.3
        return SimpleNamespace(to_dict=lambda: d, records=r.records, names=r.names, groups=r.groups)

    monkeypatch.setattr(evaluate, "evaluate_model", with_a_point)
    from tinydata import write_tiny_dataset

    from training.retrain import retrain

    old_data, base = tiny_run
    new_data = write_tiny_dataset(tmp_path / "new", n_train=10, n_val=0, size=64, seed=2)
    models = tmp_path / "models"
    res = retrain(
        base=base,
        new_data=new_data.parent,
        fmt="yolo",
        replay=old_data,
        out=tmp_path / "r",
        replay_fraction=0.5,
        margin=0.02,
        epochs=1,
        holdout_fraction=0.3,
        recipe="tiny",
        models_dir=models,
    )
    table = (tmp_path / "r" / "comparison.md").read_text()
    # the new model carries per-class operating confidences fitted on the held-out split
    stored = read_card(res.new_model).conf_thresholds
    assert stored == operating_thresholds(res.new) and 0.3 in stored.values()
    assert "| map50 |" in table and "| change | 95 % interval of the change |" in table
    assert res.promoted is promotion_decision(res.old, res.new).promote
    assert len((tmp_path / "r" / "train.txt").read_text().splitlines()) >= 4 + 1  # replay + new
    held = (tmp_path / "r" / "holdout.txt").read_text().splitlines()
    assert (
        sum(str(old_data.parent) in h for h in held) == 4
    )  # the earlier val split is part of the held-out set
    if res.promoted:
        assert (models / "DEFAULT").read_text().strip() == res.promoted_to.name
        assert (
            res.promoted_to.with_suffix(".pt").exists()
            and res.promoted_to.with_suffix(".md").exists()
        )
    else:
        assert not models.exists() or not (models / "DEFAULT").exists()


def test_comparison_table_gives_the_paired_interval_of_each_change():
    old, new = ev(0.5, crack=0.5, stain=0.5), ev(0.6, crack=0.9, stain=0.47)
    ci = {
        "level": 0.95,
        "resamples": 200,
        "map50": [0.01, 0.2],
        "map50_95": None,
        "per_class_ap50": {"crack": [0.1, 0.6], "stain": [-0.2, 0.1]},
    }
    t = comparison_table(old, new, promotion_decision(old, new), ci)
    lines = t.splitlines()
    assert lines[0].endswith("| change | 95 % interval of the change |")
    assert lines[1] == "| --- | --- | --- | --- | --- |"
    assert "| map50 | 0.5000 | 0.6000 | +0.1000 | +0.0100 to +0.2000 |" in t
    assert "| recall |" in t and t.split("| recall |")[1].splitlines()[0].endswith("| – |")
    assert "| AP50 stain (1 labels) | 0.5000 | 0.4700 | -0.0300 | -0.2000 to +0.1000 |" in t
    assert "paired bootstrap over the held-out images (200 resamples)" in t
