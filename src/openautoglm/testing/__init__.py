"""Test doubles that ship with the code: a fake OpenAI-compatible server on loopback."""

from .fake_openai import FakeOpenAI, closed_port_url

__all__ = ["FakeOpenAI", "closed_port_url"]
