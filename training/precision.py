"""bfloat16 mixed precision for CPU training: the network in bf16, the loss in float32.

ultralytics knows ``amp="bf16"`` but only opens a bf16 autocast on CUDA (on the CPU it raises).
On a CPU with native bf16 instructions (AVX512-BF16 / AMX) a nano YOLO's forward and backward
pass at 320 px runs about twice as fast under ``torch.autocast("cpu", dtype=torch.bfloat16)``
(``benchmarks/train_precision.py``). The loss must stay in float32: ultralytics builds the
targets in the predictions' dtype, and bf16 (8-bit mantissa) rounds a 320-px box coordinate to
2 px. ``bf16_training()`` patches both, for the duration of a ``with`` block:

- the trainer's ``autocast`` opens a CPU bf16 autocast when ``amp="bf16"`` on the CPU;
- the model's loss casts the predictions to float32 and runs with autocast off.

``channels_last_on_cpu`` (a trainer callback) also stores the trained network's weights
channels-last, the layout oneDNN's CPU convolutions work in: a bf16 training step is then
1.1-1.3x faster again, and a float32 one (a CPU without native bf16) 1.13x (the network's
forward and backward alone 1.28x; ``benchmarks/train_precision.py``).

Weights, optimizer state, EMA, validation and the saved checkpoints stay float32; the patches
live on classes and modules, not on the model, so nothing of them is pickled into a checkpoint.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def cpu_has_bf16() -> bool:
    """True when oneDNN runs bf16 natively on this CPU (else bf16 is emulated and slow)."""
    import torch

    try:
        return bool(
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):
        return False


def to_float32(tree: Any) -> Any:
    """``tree`` with every floating-point tensor in it (dicts, lists, tuples) as float32."""
    import torch

    if isinstance(tree, torch.Tensor):
        return tree.float() if tree.is_floating_point() else tree
    if isinstance(tree, dict):
        return {k: to_float32(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(to_float32(v) for v in tree)
    return tree


@contextlib.contextmanager
def bf16_training() -> Iterator[None]:
    """Let ultralytics train with ``amp="bf16"`` on the CPU (a no-op for other settings)."""
    import torch
    from ultralytics.engine import trainer as trainer_module
    from ultralytics.nn.tasks import BaseModel

    ultralytics_autocast = trainer_module.autocast
    ultralytics_loss = BaseModel.loss

    def autocast(enabled: bool | torch.dtype, device: str = "cuda") -> Any:
        if enabled is torch.bfloat16 and device == "cpu":
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return ultralytics_autocast(enabled, device=device)

    def loss(self: Any, batch: dict[str, Any], preds: Any = None) -> Any:
        if preds is None:
            preds = self.forward(batch["img"])
        with torch.autocast("cpu", enabled=False):
            return ultralytics_loss(self, batch, to_float32(preds))

    trainer_module.autocast = autocast  # type: ignore[assignment]
    BaseModel.loss = loss  # type: ignore[method-assign]
    try:
        yield
    finally:
        trainer_module.autocast = ultralytics_autocast
        BaseModel.loss = ultralytics_loss  # type: ignore[method-assign]


def channels_last_on_cpu(trainer: Any) -> None:
    """``on_pretrain_routine_end`` callback: a CPU run's network in channels-last layout.

    Only the trained network changes layout (its parameters stay the same objects, so the
    optimizer is unaffected); the EMA copy, validated and saved, keeps the usual layout.
    """
    import torch

    if trainer.device.type == "cpu":
        trainer.model.to(memory_format=torch.channels_last)
