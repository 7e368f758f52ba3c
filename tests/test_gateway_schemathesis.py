"""schemathesis, from the gateway's own OpenAPI document, finds no 500 on any route (valid and invalid inputs).

Other 5xx answers are allowed when they are the truth (a node the fuzzer registered at an unreachable address
answers 502), but like every error they must be the JSON error shape, never a stack trace.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import HypothesisDeprecationWarning, Unsatisfiable

from gateway_support import database, gateway, make_glm
from openautoglm.models.scripted import ScriptedModel

EXAMPLES = 20


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database(request.param, tmp_path) as url:
        yield url


def _fuzz(operation: Any, mode: schemathesis.GenerationMode, problems: list[str]) -> int:
    calls = 0

    @given(case=operation.as_strategy(mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = case.call(timeout=20)
        status = response.status_code
        if status == 500 or (status >= 400 and not _error_shaped(response)):
            problems.append(f"{operation.method.upper()} {operation.path} -> {status}: {response.text[:300]}\n"
                            f"    {case.as_curl_command()}")

    try:
        with warnings.catch_warnings():
            # schemathesis's own strategies use the random module, which Hypothesis flags as deprecated.
            warnings.simplefilter("ignore", HypothesisDeprecationWarning)
            run()
    except Unsatisfiable:  # nothing to make invalid (an operation without parameters or body)
        assert mode == schemathesis.GenerationMode.NEGATIVE
    return calls


def _error_shaped(response: Any) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and set(body.get("error", {})) >= {"type", "message"}


def test_schemathesis_finds_no_server_errors(db_url: str) -> None:
    # Auth off and limits wide, so the generated requests reach the handlers instead of stopping at 401/429.
    glm = make_glm(db_url, ScriptedModel(["fuzzed answer"]), auth="disabled", rate_limit_per_minute=1e6,
                   rate_limit_burst=100_000)
    problems: list[str] = []
    calls = 0
    with gateway(glm, access_log=False) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {"/v1/chat/completions", "/v1/tasks", "/v1/feedback", "/v1/keys", "/v1/nodes"} <= {
            op.path for op in operations}
        for operation in operations:
            for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
                calls += _fuzz(operation, mode, problems)
    assert calls > 10 * len(operations)
    assert problems == [], "\n".join(problems[:10])
