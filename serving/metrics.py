"""Prometheus metrics of one app, in a registry of its own (two apps in one process never share
counters), and the ASGI middleware that counts requests by route template and status.

    >>> m = Metrics()
    >>> m.detections.labels(label="crack").inc()
    >>> b"finishscan_detections_total" in m.render()
    True
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The service's instruments, all registered in ``self.registry``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "finishscan_http_requests",
            "HTTP requests by route template, method and status code.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "finishscan_http_request_duration_seconds",
            "Time from request start to the end of the response, by route template.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "finishscan_inference_seconds",
            "Model inference time per call (one photo, or one micro-batch).",
            ["mode"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "finishscan_inference_batch_size",
            "Photos per inference call.",
            buckets=(1, 2, 3, 4, 6, 8, 12, 16, 32),
            registry=r,
        )
        self.detections = Counter(
            "finishscan_detections", "Defects detected, by label.", ["label"], registry=r
        )
        self.warnings_raised = Counter(
            "finishscan_warnings_raised",
            "Warnings raised (a unit or project going up to amber or red) by uploads, status "
            "changes and the time-driven refresh (periodic sweep or a read of the warnings).",
            ["level"],
            registry=r,
        )
        self.warnings_cleared = Counter(
            "finishscan_warnings_cleared",
            "Warnings that cleared by themselves after an upload, a status change or the "
            "time-driven refresh.",
            ["level"],
            registry=r,
        )
        self.photos = Counter(
            "finishscan_photos",
            "Photos uploaded to units, new or already known.",
            ["result"],
            registry=r,
        )

    def count_warning_changes(
        self, before: dict[tuple[str, str], str], after: dict[tuple[str, str], str]
    ) -> None:
        """Count warnings raised and cleared between two ``{(subject, rule): level}`` snapshots
        (a level change counts as the old one cleared and the new one raised)."""
        for k, level in after.items():
            if before.get(k) != level:
                self.warnings_raised.labels(level).inc()
        for k, level in before.items():
            if after.get(k) != level:
                self.warnings_cleared.labels(level).inc()

    def count_refresh(self, refresh: Any) -> None:
        """Count what a time-driven refresh (a ``register.WarningRefresh``) raised and cleared."""
        for w in refresh.cleared:
            self.warnings_cleared.labels(w.level).inc()
        for w in refresh.raised:
            self.warnings_raised.labels(w.level).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: one counter increment and one latency observation per request.

    The label is the route template (``/v1/defects/{defect_id}``), never the raw path, so
    label cardinality stays bounded; unmatched paths count as ``<unmatched>``.
    """

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.latency.labels(template, method).observe(time.perf_counter() - start)
