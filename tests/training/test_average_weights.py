"""``average_weights``: the weighted mean of two checkpoints of one network, checked tensor by
tensor on the shipped weights."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from training.train import average_weights  # noqa: E402

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "finishscan-yolo26n-320.pt"


def weights(path: Path) -> dict:
    ck = torch.load(str(path), map_location="cpu", weights_only=False)
    return (ck.get("ema") or ck["model"]).state_dict()


def test_average_is_the_weighted_mean(tmp_path: Path) -> None:
    ck = torch.load(str(SHIPPED), map_location="cpu", weights_only=False)
    first = next(k for k, v in ck["model"].state_dict().items() if v.is_floating_point())
    with torch.no_grad():
        ck["model"].state_dict()[first].add_(1.0)  # b = a + 1 in that tensor
    moved = tmp_path / "moved.pt"
    torch.save(ck, moved)
    same = average_weights(SHIPPED, SHIPPED, tmp_path / "same.pt")
    a, s = weights(SHIPPED), weights(same)
    assert all(torch.equal(a[k], s[k]) for k in a)
    mix = weights(average_weights(SHIPPED, moved, tmp_path / "mix.pt", weight=0.25))
    want = a[first].float() + 0.75
    assert torch.allclose(mix[first].float(), want, atol=2e-3)  # stored in half precision
    others = [k for k in a if k != first]
    assert all(torch.allclose(mix[k].float(), a[k].float(), atol=1e-3) for k in others)


def test_different_networks_and_bad_weights_are_refused(tmp_path: Path) -> None:
    ck = torch.load(str(SHIPPED), map_location="cpu", weights_only=False)
    ck["model"].register_buffer("extra", torch.zeros(1))
    other = tmp_path / "other.pt"
    torch.save(ck, other)
    with pytest.raises(ValueError, match="same network"):
        average_weights(SHIPPED, other, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="weight"):
        average_weights(SHIPPED, SHIPPED, tmp_path / "x.pt", weight=1.5)
    assert not (tmp_path / "x.pt").exists()
