"""A conversation given whole by a stateless client: the ``messages`` of an OpenAI-style chat request.

Earlier user/assistant pairs become the planner's history (:class:`~openautoglm.planning.base.Turn`), like a
``--session``'s turns. The data behind an earlier reply is not in the messages; it is found in the store: the
owner's latest task asked that request and answered exactly that reply (``Store.find_answered``). A reply the
store does not know (written by the client, or by another gateway) stays text: it is never re-planned or re-run,
so a follow-up about it is planned from its words alone. System (and developer) messages are the caller's
instructions to every writer; the reply language they ask for is read off them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import AutoGLMError
from ..events import step_outputs
from ..language import requested_language
from ..planning.base import Turn

if TYPE_CHECKING:
    from ..store import Store, TaskRecord


@dataclass
class Conversation:
    """What a chat request asks now, what was said before it, and the caller's standing instructions."""

    request: str
    history: list[Turn] = field(default_factory=list)
    instructions: str | None = None

    @property
    def language(self) -> str | None:
        return requested_language(self.instructions)


def conversation(messages: Iterable[tuple[str, str]], store: Store | None = None, owner: str | None = None,
                 recorded: int = 6) -> Conversation:
    """The conversation in ``(role, text)`` messages: the last user message is the request; each earlier user
    message with the assistant reply after it is a turn, matched to the owner's recorded task when ``store`` has
    it (the last ``recorded`` turns only, as a session's window: older ones are words, and a long resent history
    costs a bounded number of look-ups)."""
    items = [(("system" if role == "developer" else role), text) for role, text in messages]
    instructions = "\n".join(t for r, t in items if r == "system" and t.strip()) or None
    said = [(r, t) for r, t in items if r in ("user", "assistant")]
    last_user = max((i for i, (r, _) in enumerate(said) if r == "user"), default=None)
    if last_user is None:
        return Conversation(request=items[-1][1] if items else "", instructions=instructions)
    history: list[Turn] = []
    pending: str | None = None
    for role, text in said[:last_user]:
        if role == "user":
            if pending is not None:  # a user message nobody answered: it stays part of what was asked
                history.append(Turn(request=pending, answer="", status="unanswered"))
            pending = text
        elif pending is not None:
            history.append(Turn(request=pending, answer=text))
            pending = None
    if pending is not None:
        history.append(Turn(request=pending, answer="", status="unanswered"))
    if store is not None:
        start = max(0, len(history) - recorded)
        history[start:] = [_with_record(t, store, owner) for t in history[start:]]
    return Conversation(request=said[last_user][1], history=history, instructions=instructions)


def _with_record(turn: Turn, store: Store, owner: str | None) -> Turn:
    record = _recorded(store, owner, turn.request, turn.answer) if turn.status != "unanswered" else None
    return recorded_turn(store, record) if record is not None else turn


def recorded_turn(store: Store, record: TaskRecord) -> Turn:
    """A stored task as a turn of history: its plan and what each step returned."""
    from ..plan import parse_plan

    try:
        plan = parse_plan(record.plan) if record.plan else None
    except AutoGLMError:
        plan = None
    question = record.answer if record.status == "needs_input" else None  # the turn asked the user something
    return Turn(request=record.request or "", answer=record.answer or "", plan=plan, status=record.status,
                question=question, outputs=step_outputs(store.events(record.id)), task_id=record.id)


def _recorded(store: Store, owner: str | None, request: str, answer: str) -> TaskRecord | None:
    if not answer.strip():
        return None
    # Tasks record the request with its whitespace folded (AutoGLM.run cleans it the same way).
    return store.find_answered(owner, " ".join(request.split()), answer)
