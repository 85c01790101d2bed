"""Dataset formats, conversions, checks and the synthetic finishing-defect generator.

Knows no HTTP and no register. Note: this top-level package shares its name with Hugging
Face's ``datasets``; install finishscan in a dedicated virtual environment.
"""

from datasets.types import Box, Dataset, LabeledImage

__all__ = ["Box", "Dataset", "LabeledImage"]
