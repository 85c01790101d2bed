"""How a session that continues the shipped model starts: validation mAP50 after its first two
short epochs, under the warm-up and learning-rate settings of ``configs/train/continue.yaml``.

    python benchmarks/continue_lr.py --data TRAIN_MIX/data.yaml --out DIR
        [--fraction 0.19] [--only A,B,...] [--no-write]

Every condition trains the shipped weights (``models/<DEFAULT>.pt``) with the ``continue`` recipe
for 2 epochs over the same ``--fraction`` of the training split in the same order (seed 0,
deterministic), warm-up over the whole first epoch, and reads ultralytics' validation mAP50 /
mAP50-95 after each epoch from the run's ``results.csv``; epoch 0 is the shipped model's own
validation on the same split. The conditions change, one at a time from ultralytics' settings:

- ``warmup_bias_lr``: the biases' learning rate at the start of warm-up (ultralytics' default
  0.1, meant for SGD; the recipe's field since this benchmark, 0.0 by default);
- ``lr0``: the peak learning rate (the recipe's; cosine decay to 1 % of it over the run);
- ``o2m``: the weight of YOLO26's one-to-many head in the loss at the start
  (``ultralytics.utils.loss.E2ELoss``: 0.8, falling to 0.1 over the run; the one-to-one head,
  which is exported, gets the rest). Every session starts it again at 0.8.

Writes the ``continue_lr`` section of RESULTS.md (unless ``--no-write``). Needs torch and
ultralytics; about 2.5 minutes per condition at fraction 0.19 of 9,936 images on 2 cores.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._results import write_section  # noqa: E402
from training.offline import prepare_offline  # noqa: E402
from training.recipe import Recipe, load_recipe  # noqa: E402
from training.train import train_model  # noqa: E402

# name -> (warmup_bias_lr, lr0, o2m at the start)
CONDITIONS = {
    "A": (0.1, 1e-3, 0.8),  # ultralytics' warm-up with continue.yaml's lr0 before this benchmark
    "B": (0.0, 1e-3, 0.8),
    "C": (0.0, 1e-3, 0.1),
    "D": (0.0, 3e-4, 0.8),
}


@contextmanager
def e2e_o2m(start: float) -> Iterator[None]:
    """ultralytics' E2ELoss starting its one-to-many weight at ``start`` (restored after)."""
    from ultralytics.utils import loss

    init = loss.E2ELoss.__init__

    def patched(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.o2m = self.o2m_copy = start
        self.o2o = self.total - start

    loss.E2ELoss.__init__ = patched
    try:
        yield
    finally:
        loss.E2ELoss.__init__ = init


@contextmanager
def data_fraction(fraction: float) -> Iterator[None]:
    """Recipes train on ``fraction`` of their training split (ultralytics' ``fraction``)."""
    args = Recipe.ultralytics_args
    Recipe.ultralytics_args = lambda self: {**args(self), "fraction": fraction}  # type: ignore[method-assign]
    try:
        yield
    finally:
        Recipe.ultralytics_args = args  # type: ignore[method-assign]


def epochs_map(run: Path) -> list[tuple[float, float]]:
    """(mAP50, mAP50-95) per epoch from a run's results.csv."""
    with (run / "results.csv").open() as f:
        rows = [{k.strip(): v for k, v in r.items()} for r in csv.DictReader(f)]
    return [(float(r["metrics/mAP50(B)"]), float(r["metrics/mAP50-95(B)"])) for r in rows]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="a training set's data.yaml")
    ap.add_argument("--out", type=Path, required=True, help="folder for the runs")
    ap.add_argument("--fraction", type=float, default=0.19)
    ap.add_argument("--only", default=",".join(CONDITIONS), help="conditions to run")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    prepare_offline()
    from ultralytics import YOLO

    name = (ROOT / "models" / "DEFAULT").read_text().strip().removesuffix(".onnx")
    weights = ROOT / "models" / f"{name}.pt"
    base = YOLO(str(weights)).val(
        data=str(a.data), imgsz=320, batch=16, device="cpu", plots=False, verbose=False
    )
    rows = [f"| shipped weights (epoch 0) | | | | {base.box.map50:.3f} / {base.box.map:.3f} | |"]
    print(rows[0])
    for key in a.only.split(","):
        bias_lr, lr0, o2m = CONDITIONS[key]
        recipe = load_recipe("continue").with_overrides(
            model=str(weights), epochs=2, warmup_epochs=1.0, lr0=lr0, warmup_bias_lr=bias_lr
        )
        with data_fraction(a.fraction), e2e_o2m(o2m):
            res = train_model(data=a.data, out=a.out / key, recipe=recipe)
        (m1, m1_95), (m2, m2_95) = epochs_map(res.run_dir)
        rows.append(
            f"| {key} | {bias_lr:g} | {lr0:g} | {o2m:g} | {m1:.3f} / {m1_95:.3f} |"
            f" {m2:.3f} / {m2_95:.3f} |"
        )
        print(rows[-1])
    table = "\n".join(
        [
            "| condition | warmup_bias_lr | lr0 | o2m at start | val mAP50 / mAP50-95 after epoch 1"
            " | after epoch 2 |",
            "|---|---|---|---|---|---|",
            *rows,
        ]
    )
    head = (
        f"`python benchmarks/continue_lr.py --data {a.data} --out {a.out} --fraction {a.fraction}`"
        f": the shipped `{name}.pt`, recipe `continue`, 2 epochs over {a.fraction:g} of the"
        " training split (same images and order in every condition), warm-up over epoch 1.\n\n"
    )
    if not a.no_write:
        write_section("continue_lr", head + table)


if __name__ == "__main__":
    main()
