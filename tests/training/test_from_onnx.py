"""Weights back from an exported ONNX file: same function as the ONNX model, fine-tunable."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = [pytest.mark.train, pytest.mark.slow]


def _outputs(model, batch):  # eval-mode detections, as the ONNX file computes them
    import torch

    with torch.no_grad():
        out = model(torch.from_numpy(batch))
    return (out[0] if isinstance(out, (list, tuple)) else out).numpy()


def test_weights_from_onnx_rebuilds_the_exported_model(tiny_run, tmp_path):
    import onnxruntime as ort
    import torch
    from ultralytics.nn.tasks import load_checkpoint

    from finishscan.errors import ModelError
    from training.export import _letterboxed, export_onnx
    from training.from_onnx import weights_from_onnx

    data, best = tiny_run
    onnx_path = export_onnx(best, tmp_path / "m.onnx")

    # A base of the same architecture with other weights and statistics (an older version).
    ckpt = torch.load(best, weights_only=False)
    base_model = ckpt["model"].float()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in list(base_model.parameters()) + [
            b for n, b in base_model.named_buffers() if n.endswith(("running_mean", "running_var"))
        ]:
            t.mul_(1 + 0.5 * torch.rand(t.shape, generator=gen))
    ckpt["model"] = base_model.half()
    base = tmp_path / "base.pt"
    torch.save(ckpt, base)

    images = data.parent / "images" / "train"
    res = weights_from_onnx(onnx_path, base, tmp_path / "back.pt", images)
    assert res["max_abs_diff"] <= 1e-3 * max(res["max_abs"], 1.0)

    photos = sorted(images.iterdir())
    batch = np.concatenate([_letterboxed(p, 64) for p in photos])
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    want = sess.run(None, {sess.get_inputs()[0].name: batch})[0]

    back, _ = load_checkpoint(str(tmp_path / "back.pt"), device="cpu", fuse=False)
    back = back.float().eval()
    scale = np.abs(want).max()
    # fp16 checkpoint (as ultralytics saves): equal to the ONNX file within half precision
    assert np.abs(_outputs(back, batch) - want).max() <= 2e-2 * scale
    old, _ = load_checkpoint(str(base), device="cpu", fuse=False)
    assert np.abs(_outputs(old.float().eval(), batch) - want).max() > 5e-2 * scale

    # Training mode normalises by the batch's own statistics; on the photos the statistics came
    # from, in one batch, it computes the same as eval mode (so fine-tuning starts where it ends).
    for m in back.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.train()
    assert np.abs(_outputs(back, batch) - want).max() <= 2e-2 * scale

    wrong = tmp_path / "wrong.onnx"
    import onnx

    model = onnx.load(str(onnx_path))
    model.graph.initializer[0].name = "model.99.conv.weight"
    onnx.save(model, str(wrong))
    with pytest.raises(ModelError, match="does not fit"):
        weights_from_onnx(wrong, base, tmp_path / "x.pt", images)
