"""bf16 CPU training (training/precision.py): the network under bf16 autocast, the loss in float32."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")

from training.precision import (  # noqa: E402
    bf16_training,
    channels_last_on_cpu,
    cpu_has_bf16,
    to_float32,
)


def test_to_float32_casts_floating_tensors_in_nested_containers():
    tree = {
        "a": torch.ones(2, dtype=torch.bfloat16),
        "b": [torch.zeros(1, dtype=torch.float16), (torch.arange(3), "x")],
    }
    out = to_float32(tree)
    assert out["a"].dtype == torch.float32 and out["a"].tolist() == [1.0, 1.0]
    assert out["b"][0].dtype == torch.float32
    assert isinstance(out["b"][1], tuple)
    assert out["b"][1][0].dtype == torch.int64 and out["b"][1][1] == "x"


def _model_and_batch():
    from ultralytics.cfg import get_cfg
    from ultralytics.nn.tasks import DetectionModel

    from training.offline import prepare_offline

    prepare_offline()
    torch.manual_seed(0)
    model = DetectionModel("yolo26n.yaml", nc=6, verbose=False)
    model.args = get_cfg()
    model.train()
    img = torch.rand(2, 3, 128, 128)
    # box centres and sizes that bf16 cannot hold exactly at pixel scale (128 * 0.3017 = 38.6)
    bboxes = torch.tensor([[0.3017, 0.4123, 0.2071, 0.1093], [0.6311, 0.5519, 0.0813, 0.3377]])
    batch = {
        "img": img,
        "batch_idx": torch.tensor([0.0, 1.0]),
        "cls": torch.tensor([[0.0], [5.0]]),
        "bboxes": bboxes,
    }
    return model, batch


def test_bf16_loss_is_the_float32_loss_of_the_bf16_predictions():
    model, batch = _model_and_batch()
    with torch.no_grad():
        preds = model(batch["img"])
    bf16 = {k: v for k, v in preds.items()} if isinstance(preds, dict) else preds
    bf16 = _cast(bf16, torch.bfloat16)
    reference, _ = model.loss(batch, to_float32(bf16))  # float32 arithmetic, no autocast
    with torch.autocast("cpu", dtype=torch.bfloat16):
        unpatched, _ = model.loss(batch, bf16)
        with bf16_training():
            patched, _ = model.loss(batch, bf16)
    assert patched.dtype == torch.float32
    assert torch.equal(patched, reference)
    # without the patch ultralytics builds targets in bf16 and the loss moves
    assert not torch.allclose(unpatched.float(), reference, rtol=1e-4, atol=0)


def _cast(tree, dtype):
    if isinstance(tree, torch.Tensor):
        return tree.to(dtype) if tree.is_floating_point() else tree
    if isinstance(tree, dict):
        return {k: _cast(v, dtype) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(_cast(v, dtype) for v in tree)
    return tree


def test_patches_are_undone_after_the_block():
    from ultralytics.engine import trainer as trainer_module
    from ultralytics.nn.tasks import BaseModel

    before = (trainer_module.autocast, BaseModel.loss)
    with pytest.raises(RuntimeError, match="boom"), bf16_training():
        assert (trainer_module.autocast, BaseModel.loss) != before
        raise RuntimeError("boom")
    assert (trainer_module.autocast, BaseModel.loss) == before


def test_trainer_autocast_opens_cpu_bf16_only_when_asked():
    from ultralytics.engine import trainer as trainer_module

    with bf16_training():
        with trainer_module.autocast(torch.bfloat16, device="cpu"):
            assert torch.is_autocast_enabled("cpu")
            assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        with trainer_module.autocast(False, device="cpu"):
            assert not torch.is_autocast_enabled("cpu")


@pytest.mark.train
@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bfloat16")
def test_bf16_recipe_trains_the_network_in_bf16(tmp_path, monkeypatch):
    sys.path.insert(0, str(HERE))
    from tinydata import write_tiny_dataset
    from ultralytics import YOLO

    from training.recipe import load_recipe
    from training.train import train_model

    seen: set[torch.dtype] = set()
    nhwc: list[bool] = []  # per training-step conv: its input strictly channels-last
    conv_forward = torch.nn.Conv2d.forward

    def recording(self, x):
        out = conv_forward(self, x)
        seen.add(out.dtype)
        if torch.is_autocast_enabled("cpu") and x.shape[1] > 3 and x.shape[2] * x.shape[3] > 1:
            nhwc.append(
                x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            )
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", recording)
    data = write_tiny_dataset(tmp_path / "data", n_train=8, n_val=4, size=64)
    recipe = load_recipe("tiny").with_overrides(precision="bf16")
    res = train_model(data=data, out=tmp_path / "run", recipe=recipe)
    assert torch.bfloat16 in seen  # float32 too: ultralytics' FLOPs count and validation
    # most convolutions run channels-last (attention blocks' reshapes hand some NCHW inputs on)
    assert sum(nhwc) / len(nhwc) > 0.7, (sum(nhwc), len(nhwc))
    assert res.epochs_done == 1
    loaded = YOLO(str(res.best))  # the checkpoint holds no trace of the patches
    assert all(p.dtype in (torch.float16, torch.float32) for p in loaded.model.parameters())


def test_bf16_without_cpu_support_trains_in_float32_with_a_warning(monkeypatch):
    import training.train as train_module
    from training.recipe import Recipe

    monkeypatch.setattr(train_module, "cpu_has_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        assert train_module._amp(Recipe(precision="bf16")) is False
    monkeypatch.setattr(train_module, "cpu_has_bf16", lambda: True)
    assert train_module._amp(Recipe(precision="bf16")) == "bf16"
    assert train_module._amp(Recipe()) is False


def test_channels_last_callback_changes_the_layout_of_cpu_runs_only():
    from types import SimpleNamespace

    def trainer(device):
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 3))
        return SimpleNamespace(
            args=SimpleNamespace(amp=False), device=torch.device(device), model=net
        )

    def nhwc(t):
        return [
            p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous()
            for p in t.model.parameters()
            if p.dim() == 4
        ]

    cpu, gpu = trainer("cpu"), trainer("cuda")  # a CUDA device object needs no GPU
    params = list(cpu.model.parameters())
    channels_last_on_cpu(cpu)
    channels_last_on_cpu(gpu)
    assert nhwc(cpu) == [True, True] and nhwc(gpu) == [False, False]
    assert all(
        a is b for a, b in zip(params, cpu.model.parameters(), strict=True)
    )  # the optimizer's


@pytest.mark.train
def test_float32_recipe_trains_channels_last(tmp_path, monkeypatch):
    """A CPU without bf16 (or a float32 recipe) still trains in oneDNN's faster layout."""
    sys.path.insert(0, str(HERE))
    from tinydata import write_tiny_dataset

    from training.recipe import load_recipe
    from training.train import train_model

    nhwc: list[bool] = []  # per training-step conv: its input strictly channels-last
    dtypes: set[torch.dtype] = set()
    conv_forward = torch.nn.Conv2d.forward

    def recording(self, x):
        if (
            self.training
            and torch.is_grad_enabled()
            and x.shape[1] > 3
            and x.shape[2] * x.shape[3] > 1
        ):
            nhwc.append(
                x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
            )
            dtypes.add(x.dtype)
        return conv_forward(self, x)

    monkeypatch.setattr(torch.nn.Conv2d, "forward", recording)
    data = write_tiny_dataset(tmp_path / "data", n_train=8, n_val=4, size=64)
    recipe = load_recipe("tiny")
    assert recipe.precision != "bf16"
    res = train_model(data=data, out=tmp_path / "run", recipe=recipe)
    assert res.epochs_done == 1
    assert dtypes == {torch.float32}
    assert nhwc and sum(nhwc) / len(nhwc) > 0.7, (sum(nhwc), len(nhwc))
