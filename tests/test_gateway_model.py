"""The gateway in front of the real embedded model (SmolLM2-135M), through the official openai client."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from gateway_support import database, gateway, make_glm, new_key
from openautoglm.models.embedded import EmbeddedModel


@pytest.mark.model
def test_the_embedded_model_answers_through_the_gateway(tmp_path: Path) -> None:
    with database("sqlite", tmp_path) as url:
        glm = make_glm(url, EmbeddedModel())
        with gateway(glm) as server:
            client = openai.OpenAI(base_url=server.url + "/v1", api_key=new_key(glm, "user"), max_retries=0,
                                   timeout=120)
            assert "local" in [m.id for m in client.models.list()]
            reply = client.chat.completions.create(
                model="local", max_tokens=8, messages=[{"role": "user", "content": "Say hello."}])
            text = reply.choices[0].message.content or ""
            assert text.strip() and reply.usage is not None and 0 < reply.usage.completion_tokens <= 8
            pieces = [c.choices[0].delta.content or "" for c in client.chat.completions.create(
                model="local", max_tokens=8, stream=True, messages=[{"role": "user", "content": "Say hello."}])
                if c.choices]
            assert "".join(pieces).strip()
