"""training.grow.deepen: a deeper network with the trained weights, the same detections."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.train]


def _random_checkpoint(path, arch: str = "yolo26n.yaml", nc: int = 6):
    """An ultralytics checkpoint of ``arch`` with random weights and BatchNorm statistics."""
    import torch

    from training.offline import prepare_offline

    prepare_offline()
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel(arch, nc=nc, verbose=False)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith(("running_mean", "bn.bias")):
                t.copy_(0.2 * torch.randn(t.shape, generator=gen))
            elif name.endswith(("running_var", "bn.weight")):
                t.copy_(0.5 + torch.rand(t.shape, generator=gen))
    model.names = {i: f"c{i}" for i in range(nc)}
    torch.save({"model": model.half(), "ema": None, "train_args": {}}, path)
    return path


def _load(path):
    from ultralytics.nn.tasks import load_checkpoint

    model, _ = load_checkpoint(str(path), device="cpu", fuse=False)
    return model.float().eval()


def _detections(model, x, layer: int = 6):
    """The eval-mode output, the feature maps the Detect head reads (flattened) and ``layer``'s
    output."""
    import torch

    seen, inner = [], []
    hooks = [
        model.model[-1].register_forward_pre_hook(lambda m, args: seen.append(args[0])),
        model.model[layer].register_forward_hook(lambda m, args, out: inner.append(out)),
    ]
    with torch.no_grad():
        out = model(x)
    for h in hooks:
        h.remove()
    feats = np.concatenate([f.flatten().numpy() for f in seen[0]])
    out = out[0] if isinstance(out, (list, tuple)) else out
    return out.numpy(), feats, inner[0].numpy()


# modules with 2 repeats in the YAML (nano's depth 0.5 gives them 1 block, depth 1.0 two):
# yolo26: C3k2 at layers 2, 4, 6, 8, 13, 16, 19 (22 has 1 repeat) and the C2PSA at 10;
# yolo11: the same and its C3k2 at 22
@pytest.mark.parametrize(("arch", "n_grown"), [("yolo26n.yaml", 8), ("yolo11n.yaml", 9)])
def test_deeper_model_computes_the_same_detections(tmp_path, arch, n_grown):
    import torch

    from training.grow import deepen

    src = _random_checkpoint(tmp_path / "src.pt", arch)
    res = deepen(src, tmp_path / "deep.pt", depth=1.0)
    assert (res.depth_before, res.depth_after) == (0.5, 1.0)
    assert res.params_after > res.params_before * 1.1
    assert len(res.grown_modules) == n_grown
    assert "model.10 (C2PSA: 1 -> 2 blocks)" in res.grown_modules

    old, new = _load(src), _load(res.path)
    assert len(new.model[6].m) == 2 and len(old.model[6].m) == 1
    x = torch.rand(2, 3, 128, 128, generator=torch.Generator().manual_seed(1))
    (want, want_feats, want_6), (got, got_feats, got_6) = _detections(old, x), _detections(new, x)
    assert got.shape == want.shape
    assert np.abs(got - want).max() <= 1e-3 * np.abs(want).max()  # both from fp16 weights
    assert np.abs(got_feats - want_feats).max() <= 1e-3 * np.abs(want_feats).max()
    assert np.abs(got_6 - want_6).max() <= 1e-3 * np.abs(want_6).max()

    # the new block is wired in: once its zero weights move, the layer's output changes
    with torch.no_grad():
        new.model[6].cv2.conv.weight[:, -new.model[6].c :].normal_(0, 0.5)
    moved = _detections(new, x)[2]
    assert np.abs(moved - want_6).max() > 0.1 * np.abs(want_6).max()


def test_new_blocks_learn_from_the_first_step(tmp_path):
    import torch

    from training.grow import deepen

    res = deepen(_random_checkpoint(tmp_path / "src.pt"), tmp_path / "deep.pt")
    model = _load(res.path).train()
    for p in model.parameters():
        p.requires_grad_(True)
    out = model(torch.rand(1, 3, 64, 64))
    feats = out["one2many"]["feats"] if isinstance(out, dict) and "one2many" in out else out
    loss = sum(
        f.float().pow(2).mean() for f in (feats.values() if isinstance(feats, dict) else feats)
    )
    loss.backward()
    c2f, psa = model.model[6], model.model[10]
    assert c2f.cv2.conv.weight.grad[:, -c2f.c :].abs().sum() > 0  # the zero columns
    assert psa.m[1].ffn[-1].bn.weight.grad.abs().sum() > 0  # the zero BatchNorm scale


def test_deepen_refuses_what_it_cannot_grow(tmp_path):
    from finishscan.errors import ModelError
    from training.grow import deepen

    src = _random_checkpoint(tmp_path / "src.pt")
    with pytest.raises(ModelError, match="larger one"):
        deepen(src, tmp_path / "same.pt", depth=0.5)
    with pytest.raises(ModelError, match="not found"):
        deepen(tmp_path / "missing.pt", tmp_path / "x.pt")
    assert not (tmp_path / "same.pt").exists()


@pytest.mark.slow
def test_deepened_model_trains_exports_and_detects(tiny_run, tmp_path):
    from detector import Detector, load_image
    from training.export import export_onnx
    from training.grow import deepen
    from training.recipe import load_recipe
    from training.train import train_model

    data, best = tiny_run
    deep = deepen(best, tmp_path / "deep.pt").path
    recipe = load_recipe("tiny").model_copy(update={"model": str(deep)})
    res = train_model(data=data, out=tmp_path / "run", recipe=recipe)
    trained = _load(res.best)
    assert len(trained.model[2].m) == 2  # the deeper architecture was trained, not rebuilt
    onnx_path = export_onnx(res.best, tmp_path / "deep.onnx")
    det = Detector(onnx_path, conf=0.001)
    photo = sorted((data.parent / "images" / "val").iterdir())[0]
    d = det.detect(load_image(photo), tile="off")
    assert det.imgsz == (64, 64) and len(d) > 0


def test_deepen_cli(tmp_path):
    from typer.testing import CliRunner

    from finishscan.errors import ModelError
    from serving.cli import app

    src = _random_checkpoint(tmp_path / "src.pt")
    res = CliRunner().invoke(app, ["deepen", str(src), "--out", str(tmp_path / "deep.pt")])
    assert res.exit_code == 0, res.output
    assert "depth 0.5 -> 1: 8 modules grew" in res.output
    assert len(_load(tmp_path / "deep.pt").model[6].m) == 2

    res = CliRunner().invoke(
        app, ["deepen", str(src), "--out", str(tmp_path / "x.pt"), "--depth", "0.25"]
    )
    assert res.exit_code != 0  # main() prints a ModelError as one "error: ..." line
    assert isinstance(res.exception, ModelError) and "needs a larger one" in str(res.exception)
    assert not (tmp_path / "x.pt").exists()
