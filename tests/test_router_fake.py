"""The shipped fake OpenAI-compatible server: each behaviour, as the official client sees it."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from openautoglm.testing import FakeOpenAI, closed_port_url


def test_answers_echo_text_and_json_and_counts_requests() -> None:
    with FakeOpenAI("echo", model="m1") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        echoed = client.chat.completions.create(model="m1", messages=[{"role": "system", "content": "s"},
                                                                       {"role": "user", "content": "你好 there"}])
        assert echoed.choices[0].message.content == "你好 there"
        assert echoed.model == "m1" and echoed.choices[0].finish_reason == "stop"
        fake.set(mode="json", json_value={"city": "北京", "days": [1, 2]})
        answer = client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "x"}])
        assert json.loads(answer.choices[0].message.content or "") == {"city": "北京", "days": [1, 2]}
        fake.set(mode="text", text="fixed words here")
        pieces = [c.choices[0].delta.content for c in client.chat.completions.create(
            model="m1", messages=[{"role": "user", "content": "x"}], stream=True) if c.choices and
            c.choices[0].delta.content]
        assert pieces == ["fixed", " words", " here"]
        assert [m.id for m in client.models.list()] == ["m1"]
        assert fake.requests == 3 and fake.other_requests == 1
        assert fake.last_request is not None and fake.last_request["stream"] is True
        client.close()


# A stream cut mid-body surfaces as a transport error: openai 1.x lets httpx's through, 3.x wraps it as
# APIConnectionError or lets its own HTTP stack's (httpx2) through, depending on where the read fails.
CUT_STREAM_ERRORS: tuple[type[BaseException], ...] = (openai.APIConnectionError, httpx.TransportError)
try:
    import httpx2

    CUT_STREAM_ERRORS += (httpx2.TransportError,)
except ImportError:
    pass


def test_failures_as_the_client_sees_them() -> None:
    with FakeOpenAI("error", status=503) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0, timeout=0.5)
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        assert caught.value.status_code == 503
        fake.set(mode="malformed")
        raw = httpx.post(f"{fake.base_url}/chat/completions", json={"messages": []})
        assert raw.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            raw.json()
        fake.set(mode="stall")
        with pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        fake.set(mode="cut_stream", cut_after=1)
        chunks = 0
        # What a caller sees: the stream breaks after the chunks that were sent, with an error, not a short answer
        # that looks complete. Which class depends on the SDK (see CUT_STREAM_ERRORS); a clean end of iteration
        # would be the bug.
        with pytest.raises(CUT_STREAM_ERRORS):
            for _ in client.chat.completions.create(model="m", messages=[{"role": "user", "content": "a b c"}],
                                                    stream=True):
                chunks += 1
        assert chunks <= 1
        assert fake.requests == 4
        client.close()


def test_refuse_and_accept_on_the_same_port() -> None:
    with FakeOpenAI("text", text="back") as fake:
        url = fake.base_url
        fake.refuse()
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"{url}/chat/completions", json={"messages": []})
        fake.accept()
        assert fake.base_url == url
        assert httpx.post(f"{url}/chat/completions", json={"messages": []}).json()[
            "choices"][0]["message"]["content"] == "back"
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{closed_port_url()}/models")


def test_unknown_modes_and_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown mode"):
        FakeOpenAI("explode")  # type: ignore[arg-type]
    fake = FakeOpenAI()
    with pytest.raises(AttributeError):
        fake.set(colour="red")
