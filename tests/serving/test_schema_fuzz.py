"""Property-based requests generated from the OpenAPI schema (schemathesis strategies driven
by hypothesis): no generated request gets a 5xx, every 4xx is JSON with ``detail``.

Bounded: a few examples per operation, so the whole run takes well under a minute.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402

MAX_EXAMPLES = 10


def test_no_server_errors(client, app, keys) -> None:
    # the TestClient fixture has entered the lifespan: model and register are open
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    seen: dict[str, set[int]] = {}

    def fuzz(op) -> None:
        @given(case=op.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case) -> None:
            for who in ("admin", "p1_inspector", None):
                headers = {"Authorization": f"Bearer {keys[who]}"} if who else {}
                response = case.call(headers=headers)
                code = response.status_code
                seen.setdefault(f"{op.method.upper()} {op.path}", set()).add(code)
                assert code < 500, (who, case.method, case.formatted_path, response.text[:500])
                if code >= 400 and "json" in response.headers.get("content-type", ""):
                    assert "detail" in response.json()

        check()

    for op in operations:
        fuzz(op)
    assert len(seen) == len(operations)
    # the generated requests got past authentication and validation somewhere
    assert any(c < 300 for codes in seen.values() for c in codes)
    assert client.get("/healthz").json() == {"status": "ok"}
