"""The composer: one reply to the request from the step results, with an honest status and a confidence.

The deterministic writer always drafts the reply. When the configured model is capable (``ChatModel.can_plan``),
it words what was done as a reply; that reply replaces the draft only if it passes the checks on generated text
and every figure in it is grounded in the results; otherwise the draft stands and a ``compose.rejected`` event
records why. What was not done is always said in the composer's own sentences, after the model's words. The status
and the confidence come from the parts, never from the writer's wording.
"""

from __future__ import annotations

from ..errors import AutoGLMError
from ..events import EventKind
from ..models.base import ChatModel
from .base import Composed, ComposeInput
from .confidence import confidence_of, status_of
from .deterministic import DeterministicWriter
from .language import plan_words, reply_language
from .model_writer import ModelWriter
from .outcomes import Source, outcomes


class Composer:
    """``await Composer(model).compose(ComposeInput(...))``; with no model, or a small one, it writes by itself."""

    def __init__(self, model: ChatModel | None = None) -> None:
        self.model = model
        self.deterministic = DeterministicWriter()

    @property
    def capable(self) -> bool:
        """Whether the model may word the reply; a stand-in for a model built on first use is asked about the
        real one, and a model that cannot be built leaves the reply to the deterministic writer."""
        if self.model is None:
            return False
        try:
            model = getattr(self.model, "resolved", self.model)
        except AutoGLMError:
            return False
        return bool(getattr(model, "can_plan", False))

    async def compose(self, inp: ComposeInput) -> Composed:
        lang = reply_language(inp.request or plan_words(inp.plan), inp.language, inp.instructions)
        parts = outcomes(inp, lang, self.capable)
        status = status_of(parts)
        answer = self.deterministic.write(parts, lang)
        writer, notes = self.deterministic.name, []
        # Only results a tool produced need wording: text the model already wrote in the plan is not written again.
        worded = (Source.GENERATED, Source.COURTESY)
        if self.capable and self.model is not None and any(p.done and p.source not in worded for p in parts):
            done = [p for p in parts if p.done]
            try:
                reply, problems = await ModelWriter(self.model).write(inp, done, lang,
                                                                      self.deterministic.write(done, lang))
            except AutoGLMError as exc:
                reply, problems = "", [f"the model failed: {exc}"]
            if problems:
                inp.emit(EventKind.COMPOSE_REJECTED, writer="model", problems=problems, reply=reply[:2000])
                notes.append("the model's reply was rejected (" + "; ".join(problems[:3]) + "); the plain reply "
                             "is used")
            else:
                # What was not done is said in the composer's own words, whatever the model left out.
                answer = self.deterministic.write_after(reply, [p for p in parts if not p.done], lang)
                writer = ModelWriter.name
        confidence = confidence_of(parts, writer)
        inp.emit(EventKind.COMPOSED, writer=writer, status=status, confidence=confidence, language=lang,
                 parts=[{"part": p.part, "source": p.source.value, "step": p.step_id, "score": round(p.score, 3)}
                        for p in parts])
        return Composed(answer=answer, status=status, confidence=confidence, writer=writer, notes=notes)
