"""Recipes: the shipped ones validate; mistakes give a ConfigError naming the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from finishscan.errors import ConfigError
from training.recipe import RECIPES, load_recipe

pytest.importorskip("albumentations")


@pytest.mark.parametrize("path", sorted(RECIPES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_recipes_validate_and_build(path):
    from training.augment import build_pipeline

    r = load_recipe(path)
    assert build_pipeline(r.albumentations) or not r.albumentations
    assert r.ultralytics_args()["imgsz"] == r.imgsz


def test_default_pipeline_covers_photographic_realism():
    from training.augment import build_pipeline

    def names(ts):
        out = []
        for t in ts:
            out.append(type(t).__name__)
            out += names(getattr(t, "transforms", []))
        return out

    got = set(names(build_pipeline(load_recipe("default").albumentations)))
    for needed in (
        "MotionBlur",
        "GaussNoise",
        "ImageCompression",
        "RandomBrightnessContrast",
        "RandomShadow",
    ):
        assert needed in got


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("imgsz: 100\n", "multiple of 32"),
        ("epochs: 0\n", "epochs"),
        ("bogus: 1\n", "bogus"),
        ("precision: fp16\n", "precision"),
        (
            "albumentations:\n  - {transform: NoSuchBlur}\n",
            "unknown albumentations transform 'NoSuchBlur'",
        ),
        (
            "albumentations:\n  - {transform: GaussNoise, params: {bogus: 1}}\n",
            "bad parameters for GaussNoise",
        ),
        ("albumentations:\n  - {transform: GaussNoise, p: 1.5}\n", "p"),
        ("augment: {fliplr: 2}\n", "fliplr"),
        ("[1, 2\n", "not valid YAML"),
    ],
)
def test_bad_recipes_are_config_errors(tmp_path: Path, text, message):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        load_recipe(p)


def test_missing_recipe():
    with pytest.raises(ConfigError, match="not found"):
        load_recipe("no-such-recipe")


def test_cli_overrides_reach_the_recipe():
    r = load_recipe("default").with_overrides(
        model="yolo26n.yaml", epochs=3, imgsz=None, time_hours=1.5
    )
    args = r.ultralytics_args()
    assert (r.model, args["epochs"], args["imgsz"], args["time"]) == ("yolo26n.yaml", 3, 320, 1.5)
    assert "time" not in load_recipe("default").ultralytics_args()
    with pytest.raises(ConfigError, match="imgsz"):
        load_recipe("default").with_overrides(imgsz=100)


def test_model_paths_resolve_without_download(tmp_path, monkeypatch):
    from finishscan.errors import ModelError
    from finishscan.paths import ROOT
    from training.offline import resolve_model_source

    monkeypatch.chdir(tmp_path)  # a recipe's models/<name>.pt is found from any directory
    shipped = (ROOT / "models").glob("*.pt")
    rel = next(shipped).relative_to(ROOT)
    assert resolve_model_source(str(rel)) == str(ROOT / rel)
    local = tmp_path / "mine.pt"
    local.write_bytes(b"x")
    assert resolve_model_source("mine.pt") == "mine.pt"
    assert resolve_model_source("yolo26n.yaml") == "yolo26n.yaml"
    with pytest.raises(ModelError, match="never downloads"):
        resolve_model_source("yolo11n.pt")


def test_training_uses_every_core():
    """ultralytics leaves one torch thread on a 2-core machine; our callback restores them all."""
    import os

    import torch

    from training.offline import prepare_offline
    from training.train import _use_all_cores

    prepare_offline()
    from ultralytics import YOLO

    model = YOLO("yolo26n.yaml", task="detect")
    _use_all_cores(model)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)  # what ultralytics' select_device does with cpu_count - 1 = 1
        for cb in model.callbacks["on_pretrain_routine_end"]:
            cb(None)
        assert torch.get_num_threads() == os.cpu_count()
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bias_lr", [0.0, 0.1])
def test_warmup_bias_lr_reaches_the_optimizer(tiny_run, tmp_path, monkeypatch, bias_lr):
    """The biases' warm-up learning rate of a recipe is what AdamW steps with: the default 0.0
    keeps them at or under lr0 (ultralytics' own 0.1 is for SGD), 0.1 starts them at 0.1."""
    torch = pytest.importorskip("torch")
    from training.train import train_model

    data, best = tiny_run
    bias_lrs: list[float] = []
    step = torch.optim.AdamW.step

    def recording(self, *args, **kwargs):
        bias_lrs.append(next(g["lr"] for g in self.param_groups if g["param_group"] == "bias"))
        return step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "step", recording)
    recipe = load_recipe("tiny").with_overrides(
        model=str(best), epochs=2, warmup_epochs=1.0, warmup_bias_lr=bias_lr
    )
    assert load_recipe("continue").warmup_bias_lr == load_recipe("finetune").warmup_bias_lr == 0.0
    train_model(data=data, out=tmp_path / "run", recipe=recipe)
    assert bias_lrs and bias_lrs[0] == pytest.approx(bias_lr)
    assert max(bias_lrs) <= max(bias_lr, recipe.lr0) + 1e-12
