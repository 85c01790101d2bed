"""Batch scanning of photo archives into the register (``finishscan scan``).

>>> from serving.scan import ScanOptions, run_scan                     # doctest: +SKIP
>>> summary = run_scan(ScanOptions(root=Path("archive"), manifest=Path("archive/manifest.csv")))
>>> print(summary.to_text())                                            # doctest: +SKIP

Pure parts: :func:`parse_manifest`, :class:`Layout`, :func:`discover_images`; engines: local
worker processes (:func:`detect_local`) and Ray (:mod:`serving.scan.ray_engine`, lazy).
"""

from serving.scan.discover import Plan, discover_images, plan_from_layout, plan_from_manifest
from serving.scan.engine import ScanOptions, detect_local, make_plan, run_scan
from serving.scan.items import ScanItem
from serving.scan.jsonl import JsonlLog, read_jsonl
from serving.scan.layout import Layout
from serving.scan.manifest import parse_manifest, read_manifest
from serving.scan.summary import ScanSummary
from serving.scan.work import DetectorSpec

__all__ = [
    "DetectorSpec",
    "JsonlLog",
    "Layout",
    "Plan",
    "ScanItem",
    "ScanOptions",
    "ScanSummary",
    "detect_local",
    "discover_images",
    "make_plan",
    "parse_manifest",
    "plan_from_layout",
    "plan_from_manifest",
    "read_jsonl",
    "read_manifest",
    "run_scan",
]
