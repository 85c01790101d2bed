"""Fine-tunable weights back from an exported ONNX model.

``finishscan export`` fuses every convolution with its batch norm, so an ONNX file holds
``W' = W * g / s`` and ``b' = beta - mean * g / s`` (``s = sqrt(var + eps)``) and no batch-norm
statistics. When only the ONNX file of a model survives (its ``.pt`` was lost), training can
still continue from it: ``weights_from_onnx`` puts the fused weights into an unfused model of
the same architecture and rebuilds each batch norm so that

- in eval mode the model computes exactly what the ONNX file computes
  (``conv.weight = W'``, ``running_mean = m``, ``running_var = v``, ``weight = sqrt(v + eps)``,
  ``bias = b' + m``, so ``bn(W' x) = W' x + b'``), and
- in training mode, where batch norm normalises by the batch's own statistics, it computes
  nearly the same: ``m`` and ``v`` are the per-channel mean and variance of ``W' x`` measured
  on sample photos, prepared as the detector prepares them.

The architecture (and anything the ONNX file does not hold, such as YOLO26's one-to-one head
when it was exported without end2end) comes from ``base``, a checkpoint
of the same model YAML - e.g. an older version of the model.

    python -m training.from_onnx models/m.onnx --base old.pt --images tiles/ --out m.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from finishscan.errors import ModelError
from training.offline import prepare_offline


def _onnx_weights(path: Path) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {i.name: numpy_helper.to_array(i).copy() for i in graph.initializer}
    # torch.onnx keeps one initializer for identical tensors: a convolution whose bias equals
    # another's (e.g. two box branches still at their initial bias) reads the other's name.
    # Give such an input its own module's name back, from the tensor beside it in the node.
    for node in graph.node:
        if node.op_type != "Conv" or len(node.input) < 3:
            continue
        weight, bias = node.input[1], node.input[2]
        for have, other, own, wanted in (
            (weight, bias, ".weight", ".bias"),
            (bias, weight, ".bias", ".weight"),
        ):
            if have.endswith(own) and other in arrays:
                arrays.setdefault(have[: -len(own)] + wanted, arrays[other])
    return arrays


def _onnx_outputs(path: Path, batch: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: batch})[0]


def _batches(images: list[Path], imgsz: int, size: int):  # type: ignore[no-untyped-def]
    from training.export import _letterboxed

    for i in range(0, len(images), size):
        yield np.concatenate([_letterboxed(p, imgsz) for p in images[i : i + size]])


def weights_from_onnx(
    onnx_path: str | Path,
    base: str | Path,
    out: str | Path,
    images: str | Path,
    *,
    n_images: int = 64,
    atol: float = 1e-3,
) -> dict[str, float]:
    """Write ``out`` (.pt), a checkpoint of ``base``'s architecture holding ``onnx_path``'s weights.

    Returns the largest absolute difference between the rebuilt model and the ONNX file on the
    sample photos (``max_abs_diff``, float32) and the largest output magnitude (``max_abs``);
    raises ModelError when the two disagree by more than ``atol`` relative to that magnitude,
    when the weights do not fit the architecture, or when there are no photos.
    """
    import torch

    from training.export import calibration_images

    src, base_p, dst = Path(onnx_path), Path(base), Path(out)
    for p in (src, base_p):
        if not p.is_file():
            raise ModelError(f"file not found: {p}")
    photos = calibration_images(images, limit=n_images)
    prepare_offline()
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import load_checkpoint

    model, ckpt = load_checkpoint(str(base_p), device="cpu", fuse=False)
    model = model.float().eval()
    onnx_w = _onnx_weights(src)
    imgsz = int(ckpt.get("train_args", {}).get("imgsz", 640)) if ckpt else 640

    # 1. Fused weights into conv, identity batch norm carrying the fused bias.
    state = model.state_dict()
    convs = {
        n: m
        for n, m in model.named_modules()
        # the one-to-one head of YOLO26 is not exported when end2end is off: kept from base
        if isinstance(m, Conv) and hasattr(m, "bn") and ".one2one" not in n
    }
    done: set[str] = set()
    with torch.no_grad():
        for name, mod in convs.items():
            w, b = onnx_w.get(f"{name}.conv.weight"), onnx_w.get(f"{name}.conv.bias")
            if w is None or b is None or tuple(w.shape) != tuple(mod.conv.weight.shape):
                raise ModelError(
                    f"{src.name} does not fit {base_p.name}: no fused weights for {name}"
                )
            mod.conv.weight.copy_(torch.from_numpy(w))
            bn = mod.bn
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0)
            bn.weight.fill_(float(np.sqrt(1.0 + bn.eps)))
            bn.bias.copy_(torch.from_numpy(b))
            done |= {f"{name}.conv.weight", f"{name}.conv.bias"}
        for key, arr in onnx_w.items():
            if key in done or not key.startswith("model."):
                continue
            if key not in state or tuple(state[key].shape) != arr.shape:
                raise ModelError(f"{src.name} does not fit {base_p.name}: {key}")
            state[key].copy_(torch.from_numpy(arr))
            done.add(key)
        left = [
            k
            for k, _ in model.named_parameters()
            if k not in done and ".one2one" not in k and not k.endswith((".bn.weight", ".bn.bias"))
        ]
        if left:  # would silently keep base's values
            raise ModelError(
                f"{src.name} holds no weights for {', '.join(left[:5])} of {base_p.name}"
            )

    # 2. Batch-norm statistics of W'x on the sample photos (eval mode: the exact ONNX function).
    sums: dict[str, tuple[torch.Tensor, torch.Tensor, int]] = {}

    def hook(name: str):  # type: ignore[no-untyped-def]
        def fn(_mod, args, _out):  # type: ignore[no-untyped-def]
            x = args[0].double()
            s, sq, n = sums.get(name, (torch.zeros(x.shape[1]), torch.zeros(x.shape[1]), 0))
            sums[name] = (
                s + x.sum((0, 2, 3)),
                sq + (x * x).sum((0, 2, 3)),
                n + x.numel() // x.shape[1],
            )

        return fn

    handles = [m.bn.register_forward_hook(hook(n)) for n, m in convs.items()]
    check = None
    with torch.no_grad():
        for batch in _batches(photos, imgsz, 8):
            model(torch.from_numpy(batch))
            check = batch if check is None else check
        for h in handles:
            h.remove()
        for name, mod in convs.items():
            total, sq, count = sums[name]
            mean = total / count
            var = (sq / count - mean * mean).clamp_min(0)
            bn = mod.bn
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
            bn.bias.add_(mean.float())

    # 3. Same outputs as the ONNX file, then saved as ultralytics saves a checkpoint.
    assert check is not None
    with torch.no_grad():
        got = model(torch.from_numpy(check))
    got = (got[0] if isinstance(got, (list, tuple)) else got).numpy()
    want = _onnx_outputs(src, check)
    diff, scale = float(np.abs(got - want).max()), float(np.abs(want).max())
    if diff > atol * max(scale, 1.0):
        raise ModelError(
            f"rebuilt model differs from {src.name} by {diff:.3g} (outputs up to {scale:.3g})"
        )
    import copy
    from datetime import UTC, datetime

    ckpt = dict(ckpt or {})
    ckpt.update(
        model=copy.deepcopy(model).half(),
        ema=None,
        optimizer=None,
        updates=None,
        epoch=-1,
        best_fitness=None,
        date=datetime.now(UTC).isoformat(),
        finishscan_from_onnx={"onnx": src.name, "base": base_p.name, "photos": len(photos)},
    )
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, dst)
    return {"max_abs_diff": diff, "max_abs": scale}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--base", type=Path, required=True, help="checkpoint of the same architecture")
    ap.add_argument(
        "--images", type=Path, required=True, help="sample photos for batch-norm statistics"
    )
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n-images", type=int, default=64)
    a = ap.parse_args(argv)
    res = weights_from_onnx(a.onnx, a.base, a.out, a.images, n_images=a.n_images)
    print(
        f"wrote {a.out}: max |torch - onnx| = {res['max_abs_diff']:.2e} (outputs up to {res['max_abs']:.1f})"
    )


if __name__ == "__main__":
    main()
