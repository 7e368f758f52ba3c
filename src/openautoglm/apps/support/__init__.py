"""Customer service with confidence routing: a message is understood, a reply drafted from the knowledge base and
the configured order tool (never from a model's memory), its confidence measured, and the reply sent, suggested to
an agent or handed over (desk.py; how confidence is measured: confidence.py)."""

from .desk import SupportDesk, SupportReply

__all__ = ["SupportDesk", "SupportReply"]
