"""Deepen a trained detector without losing what it learned: ``deepen(src, dst, depth=1.0)``.

The shipped nano model underfits (it scores about as well on tiles it was trained on as on
held-out ones), and 15 MB of ONNX leaves room for more layers but not for the next scale's
width (YOLO26s is 40 MB). This rebuilds the checkpoint's own architecture with a larger depth
multiple (nano's 0.5 -> 1.0: two blocks in each C3k2 and C2PSA where it had one), copies every
trained weight into it and starts the new blocks so that they change nothing:

- C2f/C3k2 concatenate every block's output before their 1x1 ``cv2``. The columns of ``cv2``
  that read a new block are zero, so the module's output is the old one.
- C2PSA's attention blocks are residual (``x + attn(x)``, ``x + ffn(x)``). A new block's last
  BatchNorm in each branch gets zero scale and shift, so the block passes its input through.

The deeper model computes the same detections (tested), and training fits the new blocks from
the first step: the zero weights get gradients from the data like any other.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from finishscan.errors import ModelError
from training.offline import prepare_offline


@dataclass(frozen=True)
class DeepenResult:
    path: Path
    depth_before: float
    depth_after: float
    params_before: int
    params_after: int
    grown_modules: tuple[str, ...]  # "model.6 (C3k2: 1 -> 2 blocks)", ...


def deepen(src: str | Path, dst: str | Path, *, depth: float = 1.0) -> DeepenResult:
    """Write ``dst``: the ``src`` checkpoint rebuilt with depth multiple ``depth``, same outputs.

    Example: ``deepen("models/finishscan-yolo26n-320.pt", "runs/s16/deep.pt")``, then
    ``finishscan train --model runs/s16/deep.pt ...``. Raises ModelError for a depth that
    does not grow any module or an architecture with a module it cannot grow.
    """
    prepare_offline()
    import torch
    from ultralytics.nn.tasks import DetectionModel, load_checkpoint

    src, dst = Path(src), Path(dst)
    if not src.is_file():
        raise ModelError(f"weights file not found: {src}")
    loaded, ckpt = load_checkpoint(str(src), device="cpu", fuse=False)
    if not isinstance(loaded, DetectionModel) or not isinstance(
        getattr(loaded, "yaml", None), dict
    ):
        raise ModelError(f"{src} is not an ultralytics detection checkpoint")
    old: Any = loaded.float()  # torch's Module typing cannot follow ultralytics' layers
    cfg: dict[str, Any] = copy.deepcopy(old.yaml)
    scale = cfg.get("scale") or ""
    scales = cfg.get("scales") or {}
    if scale in scales:
        before = float(scales[scale][0])
        scales[scale] = [depth, *scales[scale][1:]]
    else:
        before = float(cfg.get("depth_multiple", 1.0))
        cfg["depth_multiple"] = depth
    if depth <= before:
        raise ModelError(
            f"{src} has depth multiple {before}; deepen needs a larger one, not {depth}"
        )
    new: Any = DetectionModel(cfg, nc=old.model[-1].nc, verbose=False).float()
    if len(new.model) != len(old.model):
        raise ModelError(f"{src}: the deeper architecture has a different layer list")

    grown: list[str] = []
    with torch.no_grad():
        for i, (o, n) in enumerate(zip(old.model, new.model, strict=True)):
            if type(o) is not type(n):
                raise ModelError(f"layer {i}: {type(o).__name__} became {type(n).__name__}")
            if _same_shapes(o, n):
                n.load_state_dict(o.state_dict())
                continue
            grown.append(f"model.{i} ({type(n).__name__}: {_grow(o, n, i)})")
    if not grown:
        raise ModelError(f"depth {depth} adds no block to {src}'s architecture")
    new.names, new.args = old.names, getattr(old, "args", {})
    if hasattr(old, "stride"):
        new.stride = old.stride
    dst.parent.mkdir(parents=True, exist_ok=True)
    out = {k: v for k, v in ckpt.items() if k not in ("ema", "optimizer", "updates", "model")}
    out.update(model=copy.deepcopy(new).half(), ema=None, optimizer=None, updates=None, epoch=-1)
    torch.save(out, dst)
    return DeepenResult(
        path=dst,
        depth_before=before,
        depth_after=depth,
        params_before=sum(p.numel() for p in old.parameters()),
        params_after=sum(p.numel() for p in new.parameters()),
        grown_modules=tuple(grown),
    )


def _same_shapes(o: Any, n: Any) -> bool:
    a, b = o.state_dict(), n.state_dict()
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)


def _grow(o: Any, n: Any, index: int) -> str:
    """Copy ``o`` into the deeper ``n`` of the same type; the new blocks add nothing yet."""
    from ultralytics.nn.modules.block import C2PSA, C2f

    k_old, k_new = len(o.m), len(n.m)
    if k_new <= k_old:
        raise ModelError(f"layer {index}: cannot shrink {type(o).__name__}")
    for a, b in zip(o.m, n.m, strict=False):  # the trained blocks, in order
        if not _same_shapes(a, b):
            raise ModelError(f"layer {index}: a block of {type(o).__name__} changed shape")
        b.load_state_dict(a.state_dict())
    if isinstance(n, C2f):
        # cv2 reads cat(y0, y1, m0, m1, ...): the trained columns first, zeros for the new blocks
        n.cv1.load_state_dict(o.cv1.state_dict())
        n.cv2.bn.load_state_dict(o.cv2.bn.state_dict())
        w_old, w_new = o.cv2.conv.weight, n.cv2.conv.weight
        if w_new.shape[0] != w_old.shape[0] or w_new.shape[2:] != w_old.shape[2:]:
            raise ModelError(f"layer {index}: {type(o).__name__}.cv2 changed its output")
        w_new.zero_()
        w_new[:, : w_old.shape[1]] = w_old
    elif isinstance(n, C2PSA):
        n.cv1.load_state_dict(o.cv1.state_dict())
        n.cv2.load_state_dict(o.cv2.state_dict())
        new_blocks: list[Any] = list(n.m)[k_old:]
        for block in new_blocks:  # residual blocks made the identity
            for bn in (block.attn.proj.bn, block.ffn[-1].bn):
                bn.weight.zero_()
                bn.bias.zero_()
    else:
        raise ModelError(f"layer {index}: cannot deepen a {type(o).__name__}")
    return f"{k_old} -> {k_new} blocks"
