"""The examples in the detector's docstrings run and are right."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["types", "geometry", "image", "tiling", "record", "draw", "run", "model"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(f"detector.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
