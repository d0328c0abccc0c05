"""`local/<model>`: a transformers (+ optional PEFT LoRA adapter) model run in this process.

    get_model("local/smollm2-135m-instruct", adapter="suites/banking77/adapter")

`<model>` is a built-in alias (fetched and cached by `evalkit.models.fetch`) or a local
Hugging Face model folder. model_args: `adapter` (a PEFT LoRA folder), `batch_size`
(default 8), `dtype` (default float32: faster than bf16 on CPUs without bf16 units) and
`threads` (torch CPU threads; process-wide).

evalkit's engine calls `generate()` once per sample, concurrently. A worker thread gathers
concurrent requests with the same generation settings into batches of up to `batch_size`,
has the torch thread run one left-padded `model.generate` per batch, and resolves each
request's future with its own row; the event loop never blocks on the model. Greedy decoding (temperature 0, the default)
gives each item the same answer whether it was batched or sent alone.

torch and transformers are imported only when a model is loaded, so importing this module
(which registers the provider) stays cheap and works without the `local` extra.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from inspect_ai.model import (
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    ModelUsage,
    modelapi,
)
from inspect_ai.tool import ToolChoice, ToolInfo

from evalkit.errors import InputError, RunFailed
from evalkit.models import fetch
from evalkit.models.clients import Completion
from evalkit.scoring.loglik import encode_pair

T = TypeVar("T")
DEFAULT_MAX_TOKENS = 128
DTYPES = ("float32", "bfloat16", "float16")
# How long the batcher waits for one more request before running a partial batch. inspect
# starts the next samples a few ms after a batch returns; a batch takes seconds.
COLLECT_WINDOW_S = 0.05
COLLECT_MAX_S = 0.5
# A worker with nothing to do for this long exits; the next request starts a new one.
WORKER_IDLE_S = 5.0

# Every piece of torch work in the process (converting, loading, merging an adapter,
# generating) runs on this one thread. OpenMP gives each thread that runs parallel work its
# own team of threads: an adapter merged in one thread and batches generated in another left
# two teams competing for the cores, and generation ran 1.6× slower (bench/local_models.py).
# One thread also means one batch at a time: two arms generating at once would only split
# the same cores between them.
_DEVICE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evalkit-torch")


def on_device(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` on the torch thread and wait for it (its exceptions are raised here)."""
    return _DEVICE.submit(fn, *args).result()


@dataclass(frozen=True)
class Settings:
    """The generation settings a batch shares; requests with different ones never mix."""

    max_tokens: int
    temperature: float
    top_p: float | None
    seed: int | None
    stop: tuple[str, ...]
    plain: bool = False  # the one message's text is the prompt as it is: no chat template


@dataclass(frozen=True)
class Request:
    messages: tuple[tuple[str, str], ...]  # (role, text); a plain prompt: one message
    settings: Settings


@dataclass(frozen=True)
class LoglikRequest:
    """Score each continuation of a plain-text context (no chat template, as lm-eval)."""

    context: str
    continuations: tuple[str, ...]
    settings: str = "loglik"  # never equal to a generation's Settings: batches never mix


@dataclass(frozen=True)
class PromptLogprobs:
    """A prompt's own tokens with their log-probabilities, as a completions server echoes them."""

    tokens: tuple[str, ...]  # each token's text
    offsets: tuple[int, ...]  # where each token starts in the prompt (cumulative token lengths)
    logprobs: tuple[float | None, ...]  # given the tokens before it; the first has none
    top: tuple[dict[str, float] | None, ...]  # the `n` likeliest tokens at each position
    next_token: str  # the greedy next token after the prompt, and its log-probability
    next_logprob: float
    next_top: dict[str, float]


@dataclass(frozen=True)
class Result:
    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str
    seconds: float
    logliks: tuple[float, ...] | None = None


class Engine:
    """A loaded tokenizer + model that turns a batch of requests into results."""

    def __init__(self, model_dir: str, adapter: str | None, dtype: str) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise RunFailed(
                "local models need the 'local' extra: pip install 'evalkit[local]'"
            ) from None
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.tokenizer.padding_side = "left"  # generation continues from the right end
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, dtype))
        if adapter is not None:
            from peft import PeftModel

            # The adapter's weights may be stored in float16 to keep them small; `.to(dtype)`
            # brings them to the model's dtype before merging. Merging makes the tuned model
            # exactly as fast as the base one.
            model = PeftModel.from_pretrained(model, adapter).to(getattr(torch, dtype))
            model = model.merge_and_unload()
        model.eval()
        self.model = model
        self.eos_ids = _eos_ids(self.tokenizer, model)

    def run(self, requests: list[Any]) -> list[Result]:
        """Generate for (or score) a batch of requests that share `settings`."""
        if isinstance(requests[0], LoglikRequest):
            return self.score(requests)
        return self.generate(requests)

    def encode(self, text: str) -> list[int]:
        # lm-eval's hf backend encodes loglik text without special tokens (no BOS added)
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def score(self, requests: list[LoglikRequest]) -> list[Result]:
        """Each request's continuation log-likelihoods, as lm-eval's `hf` backend computes them.

        The context is run once and its cached keys and values are shared by all of its
        continuations (exact: lm-eval's input is context tokens + continuation tokens too);
        a continuation's log-likelihood is the sum of its tokens' log-probabilities.
        """
        torch = self._torch
        results = []
        for req in requests:
            started = time.perf_counter()
            pairs = [encode_pair(self.encode, req.context, c) for c in req.continuations]
            context_ids = pairs[0][0]
            conts = [cont for _, cont in pairs]
            with torch.inference_mode():
                logliks = self._continuation_logliks(torch, context_ids, conts)
            results.append(
                Result(
                    text="",
                    input_tokens=len(context_ids) + sum(map(len, conts)),
                    output_tokens=0,
                    stop_reason="loglik",
                    seconds=time.perf_counter() - started,
                    logliks=tuple(logliks),
                )
            )
        return results

    def _continuation_logliks(
        self, torch: Any, context_ids: list[int], conts: list[list[int]]
    ) -> list[float]:
        if not context_ids:  # lm-eval scores an empty context after the end-of-text token
            context_ids = [self.tokenizer.eos_token_id]
        out = self.model(input_ids=torch.tensor([context_ids]), use_cache=True)
        first = out.logits[0, -1].float().log_softmax(-1)  # predicts each first token
        logliks = [float(first[c[0]]) for c in conts]
        rest = [c for c in conts if len(c) > 1]
        if not rest:  # single-token choices (MMLU's letters): one forward pass in all
            return logliks
        width = max(len(c) for c in rest) - 1
        inputs = torch.full((len(rest), width), self.tokenizer.pad_token_id)
        mask = torch.zeros((len(rest), len(context_ids) + width), dtype=torch.long)
        mask[:, : len(context_ids)] = 1
        for i, c in enumerate(rest):
            inputs[i, : len(c) - 1] = torch.tensor(c[:-1])
            mask[i, len(context_ids) : len(context_ids) + len(c) - 1] = 1
        cache = out.cache
        cache.batch_repeat_interleave(len(rest))
        logits = self.model(input_ids=inputs, attention_mask=mask, cache=cache).logits
        logprobs = logits.float().log_softmax(-1)
        extra = iter(
            float(logprobs[i, torch.arange(len(c) - 1), torch.tensor(c[1:])].sum())
            for i, c in enumerate(rest)
        )
        return [
            ll + next(extra) if len(c) > 1 else ll for ll, c in zip(logliks, conts, strict=True)
        ]

    def prompt_logprobs(self, text: str, n: int) -> PromptLogprobs:
        """Every token of `text` with its log-probability, in one forward pass.

        This is what vLLM's `/v1/completions` echoes with `logprobs: n`: the prompt encoded as
        a server does (special tokens included), each token's text decoded on its own, and its
        offset the sum of the lengths before it.
        """
        torch = self._torch
        ids = self.tokenizer(text)["input_ids"] or [self.tokenizer.eos_token_id]
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor([ids])).logits[0]
        logprobs = logits.float().log_softmax(-1)
        tokens = [self.tokenizer.decode([t]) for t in ids]
        offsets = [0, *itertools.accumulate(len(t) for t in tokens)][:-1]

        def top(row: Any) -> dict[str, float]:
            values, indices = row.topk(n)
            return {
                self.tokenizer.decode([int(i)]): float(v)
                for v, i in zip(values, indices, strict=True)
            }

        following = [float(logprobs[i - 1, t]) for i, t in enumerate(ids) if i > 0]
        nxt = int(logprobs[-1].argmax())
        return PromptLogprobs(
            tokens=tuple(tokens),
            offsets=tuple(offsets),
            logprobs=(None, *following),
            top=(None, *(top(logprobs[i]) for i in range(len(ids) - 1))),
            next_token=self.tokenizer.decode([nxt]),
            next_logprob=float(logprobs[-1, nxt]),
            next_top=top(logprobs[-1]),
        )

    def generate(self, requests: list[Request]) -> list[Result]:
        """Generate for a batch of requests that share `settings`."""
        torch = self._torch
        settings = requests[0].settings
        prompts = [
            req.messages[0][1]
            if settings.plain
            else self.tokenizer.apply_chat_template(
                [{"role": r, "content": c} for r, c in req.messages],
                add_generation_prompt=True,
                tokenize=False,
            )
            for req in requests
        ]
        # The chat template already holds the special tokens; adding more would shift
        # every prompt by a BOS the model never saw in training. A plain prompt gets them as
        # a completions server adds them (vLLM: the tokenizer's BOS, where it has one).
        enc = self.tokenizer(
            prompts, return_tensors="pt", padding=True, add_special_tokens=settings.plain
        )
        sampling: dict[str, Any] = {"do_sample": False}
        if settings.temperature > 0:
            sampling = {"do_sample": True, "temperature": settings.temperature}
            if settings.top_p is not None:
                sampling["top_p"] = settings.top_p
            if settings.seed is not None:
                torch.manual_seed(settings.seed)
        if settings.stop:
            sampling |= {"stop_strings": list(settings.stop), "tokenizer": self.tokenizer}
        started = time.perf_counter()
        with torch.inference_mode():
            out = self.model.generate(
                **enc,
                max_new_tokens=settings.max_tokens,
                pad_token_id=self.tokenizer.pad_token_id,
                eos_token_id=self.eos_ids,
                **sampling,
            )
        # Each sample's time is its share of the batch's wall time: the batch is one call.
        share = (time.perf_counter() - started) / len(requests)
        width = enc["input_ids"].shape[1]
        results = []
        for i, row in enumerate(out[:, width:].tolist()):
            end = next((j for j, t in enumerate(row) if t in self.eos_ids), None)
            tokens = row if end is None else row[:end]
            text = self.tokenizer.decode(tokens, skip_special_tokens=True)
            cut = _cut_at_stop(text, settings.stop)
            stopped = end is not None or cut is not None
            results.append(
                Result(
                    text=text if cut is None else text[:cut],
                    input_tokens=int(enc["attention_mask"][i].sum()),
                    output_tokens=len(tokens),
                    stop_reason="stop" if stopped else "max_tokens",
                    seconds=share,
                )
            )
        return results


def _eos_ids(tokenizer: Any, model: Any) -> list[int]:
    ids = model.generation_config.eos_token_id
    ids = [ids] if isinstance(ids, int) else list(ids or [])
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids.append(tokenizer.eos_token_id)
    return ids


def _cut_at_stop(text: str, stops: tuple[str, ...]) -> int | None:
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(hits) if hits else None


@functools.lru_cache(maxsize=4)
def load_engine(model_dir: str, adapter: str | None, dtype: str) -> Engine:
    """One loaded model per (model folder, adapter, dtype) per process."""
    return Engine(model_dir, adapter, dtype)


class Batcher:
    """Gathers concurrent requests into batches and runs them on a worker thread."""

    def __init__(self, engine: Engine, batch_size: int) -> None:
        self._engine = engine
        self._batch_size = batch_size
        self._queue: queue.Queue[tuple[Request, Future[Result]]] = queue.Queue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, request: Request) -> Future[Result]:
        future: Future[Result] = Future()
        with self._lock:
            self._queue.put((request, future))
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="evalkit-local-batcher", daemon=True
                )
                self._worker.start()
        return future

    def _work(self) -> None:
        held: list[tuple[Request, Future[Result]]] = []
        while True:
            if not held:
                try:
                    held.append(self._queue.get(timeout=WORKER_IDLE_S))
                except queue.Empty:
                    with self._lock:  # submit() sees either this worker or none
                        if self._queue.empty():
                            self._worker = None
                            return
                    continue
            self._collect(held)
            settings = held[0][0].settings
            batch = [h for h in held if h[0].settings == settings][: self._batch_size]
            taken = {id(future) for _, future in batch}
            held = [h for h in held if id(h[1]) not in taken]
            # A sample inspect cancelled (timeout) is dropped; the rest can no longer be
            # cancelled, so setting their results below cannot fail.
            batch = [h for h in batch if h[1].set_running_or_notify_cancel()]
            if not batch:
                continue
            try:
                results = on_device(self._engine.run, [r for r, _ in batch])
            except Exception as ex:  # every waiting sample gets the error, the worker lives on
                for _, future in batch:
                    future.set_exception(ex)
                continue
            for (_, future), result in zip(batch, results, strict=True):
                future.set_result(result)

    def _collect(self, held: list[tuple[Request, Future[Result]]]) -> None:
        """Take queued requests until a batch is full or none arrives for a short window."""
        settings = held[0][0].settings
        deadline = time.monotonic() + COLLECT_MAX_S
        while sum(h[0].settings == settings for h in held) < self._batch_size:
            wait = min(COLLECT_WINDOW_S, deadline - time.monotonic())
            if wait <= 0:
                return
            try:
                held.append(self._queue.get(timeout=wait))
            except queue.Empty:
                return


@modelapi(name="local")
class LocalModel(ModelAPI):
    def __init__(
        self,
        model_name: str,
        base_url: str | None = None,
        api_key: str | None = None,
        config: GenerateConfig = GenerateConfig(),
        adapter: str | None = None,
        batch_size: int = 8,
        dtype: str = "float32",
        threads: int | None = None,
        **model_args: Any,
    ) -> None:
        super().__init__(model_name, base_url, api_key, [], config)
        if model_args:
            raise InputError(
                f"unknown model_args for local models: {', '.join(sorted(model_args))} "
                "(known: adapter, batch_size, dtype, threads)",
                where="model_args",
            )
        if dtype not in DTYPES:
            raise InputError(f"dtype {dtype!r}: use one of {', '.join(DTYPES)}", where="dtype")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size {batch_size!r}: use a whole number ≥ 1")
        model_dir = on_device(fetch.ensure_model, model_name)
        adapter_dir = None
        if adapter is not None:
            path = Path(adapter).expanduser()
            if not (path / "adapter_config.json").is_file():
                raise InputError(
                    "not a PEFT adapter folder (no adapter_config.json)", path=path, where="adapter"
                )
            adapter_dir = str(path.resolve())
        if threads is not None:
            import torch

            # OpenMP's thread count is the calling thread's: set it where torch works
            on_device(torch.set_num_threads, int(threads))
        self._key = f"{model_dir}|{adapter_dir}|{dtype}"
        self._batch_size = batch_size
        engine = on_device(load_engine, str(model_dir), adapter_dir, dtype)
        self._batcher = Batcher(engine, batch_size)

    async def generate(
        self,
        input: list[ChatMessage],
        tools: list[ToolInfo],
        tool_choice: ToolChoice,
        config: GenerateConfig,
    ) -> ModelOutput:
        settings = Settings(
            max_tokens=config.max_tokens or DEFAULT_MAX_TOKENS,
            temperature=config.temperature or 0.0,
            top_p=config.top_p,
            seed=config.seed,
            stop=tuple(config.stop_seqs or ()),
        )
        request = Request(tuple((m.role, m.text) for m in input), settings)
        result = await asyncio.wrap_future(self._batcher.submit(request))
        output = ModelOutput.from_content(
            model=self.model_name, content=result.text, stop_reason=result.stop_reason
        )
        output.usage = ModelUsage(
            input_tokens=result.input_tokens,
            output_tokens=result.output_tokens,
            total_tokens=result.input_tokens + result.output_tokens,
        )
        output.time = result.seconds
        return output

    async def loglik(self, context: str, continuations: tuple[str, ...]) -> Completion:
        """Each continuation's summed log-probability given the context (lm-eval's `hf`)."""
        request = LoglikRequest(context, tuple(continuations))
        result = await asyncio.wrap_future(self._batcher.submit(request))
        return Completion(
            text="",
            input_tokens=result.input_tokens,
            output_tokens=0,
            stop_reason="loglik",
            seconds=result.seconds,
            logliks=result.logliks,
        )

    def max_connections(self) -> int:
        # More concurrent samples than one batch would only wait in the queue.
        return self._batch_size

    def connection_key(self) -> str:
        # Each (model, adapter, dtype) is its own pool, so two arms never split one batch.
        return self._key
