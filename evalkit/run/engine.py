"""The engine: send requests to model clients, bounded in time under faults, record each answer.

For every request: at most `max_connections` attempts in flight per endpoint; each attempt
bounded by `timeout`; a transient failure (429, 5xx, reset, timeout, unparsable body) retried
up to `max_retries` times, after the server's `Retry-After` or an exponential backoff with
jitter (no connection is held while waiting); an attempt that runs far longer than the
endpoint's typical answer is raced by a second one (hedging), so one hung connection costs
seconds, not the whole timeout. Only a request whose retries are exhausted becomes an error,
with its cause. Each record goes to the sink the moment it exists (journal, cache, progress).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import itertools
import json
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from evalkit.errors import InputError
from evalkit.models.clients import AttemptFailed, Client, Completion, GenConfig
from evalkit.run.journal import Record
from evalkit.run.plan import ModelSpec

# the OpenAI SDK's schedule (openai._base_client): 0.5 s doubling to at most 8 s, each step
# jittered down by up to a quarter
BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
BACKOFF_JITTER = 0.25
RETRY_AFTER_JITTER = 0.05  # a told wait is waited out in full, plus up to this share of it
# An attempt is raced once it has had its connection for twice the time within which 95 % of
# the endpoint's recent answers came (the "tail at scale" rule, hedging past the 95th
# percentile, with a margin): a long generation that is merely in the tail is not raced, and
# at most about 5 % of attempts could be, whatever the shape of the latencies
HEDGE_QUANTILE = 0.95
HEDGE_FACTOR = 2.0
HEDGE_MIN_S = 0.25  # never race an attempt younger than this (loop stalls, a loopback server)
HEDGE_WARMUP = 20  # answers an endpoint must have given before its tail is trusted (the
# 95th percentile of 20 is the second slowest)
MAX_HEDGES = 2  # attempts raced beside the first: with 2 % of connections hanging, three
# hang together once in 125,000 requests
# requests alive (in flight or backing off) per connection: at 4, a fifth of requests waiting
# out a 1 s Retry-After filled the admission and left connections idle
ADMISSION_FACTOR = 16


@dataclass(frozen=True)
class Request:
    task: str
    item: str
    model: ModelSpec
    messages: tuple[tuple[str, str], ...]
    config: GenConfig
    continuations: tuple[str, ...] = ()  # a loglik request: the context is messages[0]

    @cached_property
    def key(self) -> str:
        """What decides the answer: the arm's identity, the messages and the settings (a
        loglik request: the context and its continuations, which no setting changes)."""
        if self.continuations:
            payload: list = [self.model.identity, "loglik", self.messages, self.continuations]
        else:
            c = self.config
            payload = [self.model.identity, self.messages,
                       [c.max_tokens, c.temperature, c.top_p, c.seed, list(c.stop)]]  # fmt: skip
        return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


@dataclass(frozen=True)
class Policy:
    """How hard to try: the suite's `run:` block."""

    max_connections: int = 8
    max_retries: int = 2
    timeout: float = 120.0  # seconds per attempt
    total_timeout: float | None = None  # seconds per request, all attempts and waits
    hedge_after: float | None = None  # None: automatic; 0: never hedge


def backoff(retry: int, rng: random.Random) -> float:
    """Seconds before retry number `retry` (0-based): exponential, capped, jittered down.

    >>> [round(backoff(n, random.Random(0)), 3) for n in range(6)]
    [0.394, 0.789, 1.578, 3.156, 6.311, 6.311]
    """
    ceiling = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**retry)
    return ceiling * (1 - BACKOFF_JITTER * rng.random())


def error_record(req: Request, message: str, attempts: int) -> Record:
    """The record of a request that got no answer, with the cause and the attempts made."""
    plural = "s" if attempts != 1 else ""
    return Record(
        task=req.task,
        item=req.item,
        key=req.key,
        output="",
        error=f"{message} (after {attempts} attempt{plural})",
        input_tokens=None,
        output_tokens=None,
        latency_s=None,
        attempts=attempts,
        cached=False,
    )


class _Slots:
    """Connection slots, handed to the waiting attempt whose request began first.

    Up to ADMISSION_FACTOR requests per slot are alive, so a retry coming back from its wait
    finds hundreds of fresh requests queued; first come, first served put it behind all of
    them, and under faults each step of a retry chain paid that queue again (the run's tail).
    Oldest request first is the order that keeps the slowest request, and so the run, short.
    """

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiting: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()  # ties: first come, first served

    @contextlib.asynccontextmanager
    async def held(self, began: float) -> AsyncIterator[None]:
        """A slot for an attempt of a request that began at `began` (monotonic seconds)."""
        if self._free > 0 and not self._waiting:
            self._free -= 1
        else:
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiting, (began, next(self._order), turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # handed a slot as it was cancelled
                    self._release()
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():  # a waiter cancelled meanwhile is skipped
                turn.set_result(None)
                return
        self._free += 1


class _Endpoint:
    """One server's connection slots and recent answer times (for the hedging delay)."""

    def __init__(self, limit: int) -> None:
        self.slots = _Slots(limit)
        self.admission = asyncio.Semaphore(limit * ADMISSION_FACTOR)
        self._seconds: deque[float] = deque(maxlen=200)
        self._answers = 0
        self._tail: tuple[int, float] | None = None  # (answers, delay) when last worked out

    def answered(self, seconds: float) -> None:
        """An attempt's answer time, one of the recent answers the hedging delay is read from."""
        self._seconds.append(seconds)
        self._answers += 1

    def hedge_delay(self, policy: Policy) -> float | None:
        if policy.hedge_after is not None:
            return policy.hedge_after or None
        if len(self._seconds) < HEDGE_WARMUP:
            return None
        # sorted again only after a new answer: each request reads it several times
        if self._tail is None or self._tail[0] != self._answers:
            recent = sorted(self._seconds)
            tail = recent[int(HEDGE_QUANTILE * (len(recent) - 1))]
            self._tail = (self._answers, max(HEDGE_MIN_S, HEDGE_FACTOR * tail))
        return self._tail[1]


class Engine:
    def __init__(
        self, clients: dict[str, Client], policy: Policy, sink: Callable[[Record], None]
    ) -> None:
        self._clients = clients
        self._policy = policy
        self._sink = sink
        self._rng = random.Random(0)
        self._endpoints: dict[str, _Endpoint] = {}
        for client in clients.values():
            if client.endpoint not in self._endpoints:
                limit = min(policy.max_connections, client.limit or policy.max_connections)
                self._endpoints[client.endpoint] = _Endpoint(max(1, limit))

    async def run(self, requests: Sequence[Request]) -> None:
        """Send every request; returns when each has a record. Fatal errors propagate."""
        groups: dict[str, list[Request]] = {}
        for req in requests:
            groups.setdefault(self._clients[req.model.identity].endpoint, []).append(req)
        try:
            async with asyncio.TaskGroup() as tg:
                for endpoint, reqs in groups.items():
                    tg.create_task(self._dispatch(self._endpoints[endpoint], reqs))
        except BaseExceptionGroup as group:
            # the first real failure (an InputError from a provider, say), not the group
            raise group.exceptions[0] from None

    async def _dispatch(self, endpoint: _Endpoint, requests: list[Request]) -> None:
        async with asyncio.TaskGroup() as tg:
            for req in requests:
                await endpoint.admission.acquire()
                task = tg.create_task(self._request(endpoint, req))
                task.add_done_callback(lambda _: endpoint.admission.release())

    async def _request(self, endpoint: _Endpoint, req: Request) -> None:
        client = self._clients[req.model.identity]
        policy = self._policy
        started = time.monotonic()
        sent: list[float] = []  # when each attempt got its connection (monotonic)
        guessed = 0  # failures whose wait was guessed: only they grow the backoff
        for retry in range(policy.max_retries + 1):
            try:
                completion, seconds = await self._hedged(client, endpoint, req, sent, started)
            except AttemptFailed as e:
                # a 429 that said when to come back was waited out as told; it is no sign
                # that the server is down, so a 500 after two of them waits 0.375-0.5 s, not 1.5-2 s
                if e.retry_after is None:
                    wait, guessed = backoff(guessed, self._rng), guessed + 1
                else:
                    wait = e.retry_after
                if e.retry_after is not None:
                    # the OpenAI SDK waits exactly the time told; a little jitter on top
                    # spreads a burst of 429s, and each step of a chain of them pays it
                    wait += self._rng.uniform(0, RETRY_AFTER_JITTER * wait)
                if not e.transient or retry == policy.max_retries:
                    self._sink(error_record(req, str(e), len(sent)))
                    return
                budget = policy.total_timeout
                if budget is not None and time.monotonic() - started + wait > budget:
                    self._sink(error_record(req, f"{e}; run.total_timeout reached", len(sent)))
                    return
                await asyncio.sleep(wait)
                continue
            self._sink(
                Record(
                    task=req.task,
                    item=req.item,
                    key=req.key,
                    output=completion.text,
                    error=None,
                    input_tokens=completion.input_tokens,
                    output_tokens=completion.output_tokens,
                    latency_s=completion.seconds if completion.seconds is not None else seconds,
                    attempts=len(sent),
                    cached=False,
                    stop_reason=completion.stop_reason,
                    logliks=completion.logliks,
                )
            )
            return

    async def _attempt(
        self,
        client: Client,
        endpoint: _Endpoint,
        req: Request,
        sent: list[float],
        began: float,
        connected: asyncio.Future[None] | None = None,
    ) -> tuple[Completion, float]:
        """One try of `req`; `connected` is set once it has its connection."""
        # A model in this process has no connection to hang: its time is queueing for and
        # computing a batch, which a timeout would only throw away and start again.
        limit = None if client.in_process else self._policy.timeout
        async with endpoint.slots.held(began):
            sent.append(time.monotonic())
            if connected is not None:
                connected.set_result(None)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(limit):
                    if req.continuations:
                        context = req.messages[0][1]
                        completion = await client.loglik(context, req.continuations)
                    else:
                        completion = await client.generate(req.messages, req.config)
            except TimeoutError:
                raise AttemptFailed(
                    f"no answer within {self._policy.timeout:g} s (run.timeout)", transient=True
                ) from None
            except (AttemptFailed, InputError):
                raise
            except Exception as e:  # a client bug must cost one sample, not the run
                raise AttemptFailed(f"{type(e).__name__}: {e}", transient=False) from None
            seconds = time.perf_counter() - started
            endpoint.answered(seconds)
            return completion, seconds

    async def _hedged(
        self, client: Client, endpoint: _Endpoint, req: Request, sent: list[float], began: float
    ) -> tuple[Completion, float]:
        """One attempt, raced by another each time the endpoint's hedging delay passes
        unanswered (at most MAX_HEDGES more); the first to finish decides."""
        if client.in_process or self._policy.hedge_after == 0:
            return await self._attempt(client, endpoint, req, sent, began)
        connected = asyncio.get_running_loop().create_future()
        racing = {
            asyncio.ensure_future(self._attempt(client, endpoint, req, sent, began, connected))
        }
        first = len(sent)  # this race's attempts are sent[first:]
        try:
            while True:
                # read again while waiting: the endpoint's first answers may arrive only
                # after this request began, and a hedge that hangs too is raced in turn
                delay = endpoint.hedge_delay(self._policy)
                wake: set[asyncio.Future[Any]] = set(racing)
                due = None
                if not connected.done():
                    # queued for a connection: the clock runs from getting one, not from the
                    # queue (waiting behind other requests is no sign of a hung connection),
                    # so sleep until then; polling here cost hundreds of wake-ups a second
                    wake.add(connected)
                    step: float | None = None
                elif delay is None:  # no tail known yet: look again soon
                    step = HEDGE_MIN_S
                elif len(racing) <= MAX_HEDGES:
                    due = sent[first] + delay * len(racing)
                    step = max(0.0, due - time.monotonic())
                else:
                    step = None  # enough attempts in the race: wait for one of them
                done, _ = await asyncio.wait(
                    wake, timeout=step, return_when=asyncio.FIRST_COMPLETED
                )
                done -= {connected}
                if done:
                    # a fast failure decides too: the others are already slow, and the
                    # retry loop waits out a 429 better than a hung connection would
                    answered = [t for t in done if t.exception() is None]
                    return (answered or list(done))[0].result()
                if due is not None:
                    racing.add(
                        asyncio.ensure_future(self._attempt(client, endpoint, req, sent, began))
                    )
        finally:
            for task in racing:  # the losers of the race: close their connections now
                task.cancel()
