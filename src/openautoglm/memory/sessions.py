"""Short-term memory: the turns of a conversation by session id, persisted through the project's Store.

The planner sees the last ``window`` turns verbatim (:meth:`Sessions.history`). When a session grows past twice
that, the older turns are folded into one running summary (:meth:`Sessions.compact`), so a long conversation costs
a bounded prompt. Folding is deterministic truncation by default; a capable model can write the summary instead
(:class:`ModelSummarizer`), and when it fails the truncation is used and the failure reported.
"""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..errors import AutoGLMError, NotFound, StoreError
from ..events import EventKind, step_outputs
from ..store import schema

if TYPE_CHECKING:
    from ..models.base import ChatModel
    from ..planning.base import Turn
    from ..store import Store

PROMPTS = files("openautoglm.memory") / "prompts"


@dataclass
class SessionTurn:
    """One exchange: the request, how it ended, what was answered or asked back, and the plan that ran."""

    request: str
    answer: str = ""
    status: str = "succeeded"
    question: str | None = None
    missing: list[str] = field(default_factory=list)
    plan: dict[str, Any] | None = None
    task_id: str | None = None
    seq: int = 0
    created_at: float = 0.0

    def to_turn(self) -> Turn:
        """The planner's view of this exchange."""
        from ..plan import parse_plan
        from ..planning.base import Turn

        plan = None
        if self.plan:
            try:
                plan = parse_plan(self.plan)
            except AutoGLMError:
                plan = None  # a plan stored by an older version may no longer parse; the text still helps
        return Turn(request=self.request, answer=self.answer, plan=plan, status=self.status,
                    question=self.question, missing=list(self.missing), task_id=self.task_id)


@dataclass
class SessionInfo:
    id: str
    owner: str | None
    turns: int
    summary: str | None
    created_at: float
    updated_at: float
    last_request: str | None = None


class Summarizer(Protocol):
    async def summarize(self, previous: str | None, turns: list[SessionTurn]) -> str: ...


def _clip(text: str, limit: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class TruncatingSummarizer:
    """One clipped line per turn, appended to the summary; the oldest lines go once ``max_chars`` is reached."""

    def __init__(self, max_chars: int = 1500, request_chars: int = 120, answer_chars: int = 160) -> None:
        self.max_chars = max_chars
        self.request_chars = request_chars
        self.answer_chars = answer_chars

    async def summarize(self, previous: str | None, turns: list[SessionTurn]) -> str:
        lines = [line for line in (previous or "").splitlines() if line.strip()]
        for t in turns:
            said = t.question if t.status == "needs_input" and t.question else t.answer
            lines.append(f"- {_clip(t.request, self.request_chars)} → {_clip(said or '', self.answer_chars)}")
        while len(lines) > 1 and sum(len(line) + 1 for line in lines) > self.max_chars:
            lines.pop(0)
        return "\n".join(lines)


class ModelSummarizer:
    """Has the model rewrite the running summary; falls back to truncation (and says so) when the model fails."""

    def __init__(self, model: ChatModel, *, max_words: int = 120, max_tokens: int = 256,
                 fallback: Summarizer | None = None, emit: Callable[..., Any] | None = None) -> None:
        self.model = model
        self.max_words = max_words
        self.max_tokens = max_tokens
        self.fallback = fallback or TruncatingSummarizer()
        self.emit = emit or (lambda *a, **k: None)
        self.template = (PROMPTS / "summarize.txt").read_text(encoding="utf-8")

    async def summarize(self, previous: str | None, turns: list[SessionTurn]) -> str:
        from ..models.base import ChatRequest

        text = "\n".join(f"user: {_clip(t.request, 400)}\nassistant: {_clip(t.question or t.answer, 600)}"
                         for t in turns)
        from ..tools.llm import DATA_NOTICE, fence_data

        # Earlier answers may quote documents and web pages: the model reads them as data, never as instructions.
        prompt = self.template.format(max_words=self.max_words, previous=fence_data(previous or "(none)"),
                                      turns=fence_data(text))
        try:
            response = await self.model.complete(ChatRequest.of(prompt, system=DATA_NOTICE,
                                                                 max_tokens=self.max_tokens))
            summary = response.text.strip()
            if not summary:
                raise StoreError("the model returned an empty summary")
            return summary
        except AutoGLMError as exc:
            self.emit(EventKind.SESSION_SUMMARY_FALLBACK, error=str(exc), summarizer="truncate")
            return await self.fallback.summarize(previous, turns)


class Sessions:
    """Conversations by session id: append turns, read the window and summary, list, export, delete."""

    def __init__(self, store: Store, *, window: int = 6, summarizer: Summarizer | None = None) -> None:
        if window < 1:
            raise ValueError("window must be at least 1")
        self.store = store
        self.window = window
        self.summarizer: Summarizer = summarizer or TruncatingSummarizer()

    # -- writing ------------------------------------------------------------------------------------------------

    def append(self, session_id: str, turn: SessionTurn, owner: str | None = None) -> SessionTurn:
        """Store ``turn`` as the session's next one (the session is created on its first turn)."""
        if not session_id or len(session_id) > 128:
            raise StoreError("a session id must be 1 to 128 characters long")
        for _attempt in range(5):
            now = time.time()
            try:
                with self.store.engine.begin() as conn:
                    row = conn.execute(select(schema.sessions.c.id, schema.sessions.c.owner)
                                       .where(schema.sessions.c.id == session_id)).first()
                    if row is None:
                        conn.execute(insert(schema.sessions).values(
                            id=session_id, owner=owner, summary=None, summary_upto=0, created_at=now,
                            updated_at=now))
                    elif owner is not None and row.owner not in (None, owner):
                        raise NotFound(f"no session '{session_id}'")
                    else:
                        conn.execute(update(schema.sessions).where(schema.sessions.c.id == session_id)
                                     .values(updated_at=now))
                    last = conn.execute(select(func.max(schema.session_turns.c.seq))
                                        .where(schema.session_turns.c.session_id == session_id)).scalar()
                    turn.seq = int(last or 0) + 1
                    turn.created_at = now
                    conn.execute(insert(schema.session_turns).values(
                        session_id=session_id, seq=turn.seq, task_id=turn.task_id,
                        request=self.store.seal_content(turn.request), answer=self.store.seal_content(turn.answer),
                        status=turn.status, question=turn.question, missing=turn.missing,
                        plan=self.store.seal_json(turn.plan), created_at=now))
                return turn
            except IntegrityError:
                continue  # another writer took this seq (or created the session) first: read again
            except SQLAlchemyError as exc:
                raise StoreError(f"could not save the session turn: {exc.__class__.__name__}: {exc}") from exc
        raise StoreError(f"could not save a turn of session '{session_id}': too many concurrent writers")

    async def compact(self, session_id: str, summarizer: Summarizer | None = None) -> bool:
        """Fold all but the last ``window`` turns into the summary once more than ``2 * window`` are unfolded."""
        # The reads and the write go to a worker thread: the gateway's event loop serves other requests meanwhile.
        info = await asyncio.to_thread(self._row, session_id)
        pending = await asyncio.to_thread(self._turns, session_id, after=info.summary_upto)
        if len(pending) <= 2 * self.window:
            return False
        fold = pending[: len(pending) - self.window]
        summary = await (summarizer or self.summarizer).summarize(info.summary, fold)
        await asyncio.to_thread(self._save_summary, session_id, summary, fold[-1].seq)
        return True

    def _save_summary(self, session_id: str, summary: str, upto: int) -> None:
        with self._write() as conn:
            conn.execute(update(schema.sessions).where(schema.sessions.c.id == session_id)
                         .values(summary=self.store.seal_content(summary), summary_upto=upto))

    def delete(self, session_id: str, owner: str | None = None) -> int:
        """Forget a session and its turns; returns how many turns went."""
        self.get(session_id, owner=owner)
        with self._write() as conn:
            gone = conn.execute(delete(schema.session_turns)
                                .where(schema.session_turns.c.session_id == session_id)).rowcount
            conn.execute(delete(schema.sessions).where(schema.sessions.c.id == session_id))
        return int(gone or 0)

    # -- reading ------------------------------------------------------------------------------------------------

    def recent(self, session_id: str, owner: str | None = None) -> builtins.list[SessionTurn]:
        """The last ``window`` turns, oldest first (empty for a session that does not exist yet)."""
        with self._read() as conn:
            if owner is not None:
                found = conn.execute(select(schema.sessions.c.owner).where(schema.sessions.c.id == session_id)).first()
                if found is not None and found.owner not in (None, owner):
                    raise NotFound(f"no session '{session_id}'")
            rows = conn.execute(select(schema.session_turns)
                                .where(schema.session_turns.c.session_id == session_id)
                                .order_by(schema.session_turns.c.seq.desc()).limit(self.window)).all()
        return [self._turn(r) for r in reversed(rows)]

    def history(self, session_id: str | None, owner: str | None = None) -> builtins.list[Turn]:
        """What the planner gets: the recent turns as :class:`~openautoglm.planning.base.Turn`, each with what its
        steps returned (a follow-up about "it" reads the earlier turn's data, not its wording)."""
        turns = [t.to_turn() for t in self.recent(session_id, owner)] if session_id else []
        for turn in turns:
            if turn.task_id:
                turn.outputs = step_outputs(self.store.events(turn.task_id))
        return turns

    def summary(self, session_id: str) -> str | None:
        with self._read() as conn:
            summary = conn.execute(select(schema.sessions.c.summary)
                                   .where(schema.sessions.c.id == session_id)).scalar()
        return self.store.open_value(summary)

    def context_text(self, session_id: str | None, max_chars: int = 1200) -> str:
        """The conversation so far as a few lines of text, for a language-model prompt ('' when there is none)."""
        if not session_id:
            return ""
        parts = []
        summary = self.summary(session_id)
        if summary:
            parts.append(summary)
        for t in self.recent(session_id):
            said = t.question if t.status == "needs_input" and t.question else t.answer
            parts.append(f"- {_clip(t.request, 160)} → {_clip(said or '', 240)}")
        text = "\n".join(parts)
        return text[-max_chars:] if len(text) > max_chars else text

    def turns(self, session_id: str, owner: str | None = None) -> builtins.list[SessionTurn]:
        self.get(session_id, owner=owner)
        return self._turns(session_id)

    def get(self, session_id: str, owner: str | None = None) -> SessionInfo:
        infos = self._infos(session_id=session_id, owner=owner, limit=1)
        if not infos:
            raise NotFound(f"no session '{session_id}'; `autoglm sessions list` shows the sessions there are")
        return infos[0]

    def list(self, owner: str | None = None, limit: int = 100) -> builtins.list[SessionInfo]:
        """Sessions, most recently used first."""
        return self._infos(owner=owner, limit=limit)

    def export(self, session_id: str, owner: str | None = None) -> dict[str, Any]:
        """The whole session as JSON-ready data."""
        info = self.get(session_id, owner=owner)
        return {"session": asdict(info), "turns": [asdict(t) for t in self._turns(session_id)]}

    # -- internals ------------------------------------------------------------------------------------------------

    def _row(self, session_id: str) -> Any:
        with self._read() as conn:
            row = conn.execute(select(schema.sessions).where(schema.sessions.c.id == session_id)).first()
        if row is None:
            raise NotFound(f"no session '{session_id}'")
        return row

    def _turns(self, session_id: str, after: int = 0) -> builtins.list[SessionTurn]:
        with self._read() as conn:
            rows = conn.execute(select(schema.session_turns)
                                .where(schema.session_turns.c.session_id == session_id,
                                       schema.session_turns.c.seq > after)
                                .order_by(schema.session_turns.c.seq)).all()
        return [self._turn(r) for r in rows]

    def _infos(
        self, session_id: str | None = None, owner: str | None = None, limit: int = 100
    ) -> builtins.list[SessionInfo]:
        s, t = schema.sessions, schema.session_turns
        count = select(func.count()).where(t.c.session_id == s.c.id).scalar_subquery()
        last = (select(t.c.request).where(t.c.session_id == s.c.id).order_by(t.c.seq.desc()).limit(1)
                .scalar_subquery())
        query = select(s, count.label("n"), last.label("last_request")).order_by(s.c.updated_at.desc()).limit(limit)
        if session_id is not None:
            query = query.where(s.c.id == session_id)
        if owner is not None:
            query = query.where(s.c.owner == owner)
        with self._read() as conn:
            rows = conn.execute(query).all()
        opened = self.store.open_value
        return [SessionInfo(id=r.id, owner=r.owner, turns=int(r.n), summary=opened(r.summary),
                            created_at=r.created_at, updated_at=r.updated_at, last_request=opened(r.last_request))
                for r in rows]

    def _turn(self, row: Any) -> SessionTurn:
        """A stored turn, its request and answer opened when they were sealed (encrypt_content)."""
        opened = self.store.open_value
        return SessionTurn(request=opened(row.request) or "", answer=opened(row.answer) or "", status=row.status,
                           question=row.question, missing=list(row.missing or []), plan=self.store.open_json(row.plan),
                           task_id=row.task_id, seq=row.seq, created_at=row.created_at)

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with _guard(self.store, write=False) as conn:
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _guard(self.store, write=True) as conn:
            yield conn


@contextmanager
def _guard(store: Store, write: bool) -> Iterator[Connection]:
    """A connection whose database errors come out as StoreError with a readable message."""
    try:
        with store.engine.begin() if write else store.engine.connect() as conn:
            yield conn
    except SQLAlchemyError as exc:
        raise StoreError(f"session store: {exc.__class__.__name__}: {exc}") from exc
