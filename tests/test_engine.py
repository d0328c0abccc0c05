"""The engine's rules, with a fake client: retries, Retry-After, per-attempt timeouts, hedging,
connection limits and budgets. Each test runs the engine directly on a handful of requests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from evalkit.models.clients import AttemptFailed, Completion, GenConfig
from evalkit.run.engine import Engine, Policy, Request
from evalkit.run.journal import Record
from evalkit.run.plan import ModelSpec

SPEC = ModelSpec(model="fake/m", model_args=(), base_url=None, adapter_sha256=None)


class FakeClient:
    """Answers `item` by calling `behaviour(item, attempt)`: a coroutine that returns text or raises."""

    endpoint = "fake"
    limit = None
    in_process = False
    cpu_ms = 0.3

    def __init__(self, behaviour: Callable) -> None:
        self.behaviour = behaviour
        self.calls: dict[str, int] = {}
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0

    async def generate(self, messages, config) -> Completion:
        item = messages[-1][1]
        attempt = self.calls.get(item, 0)
        self.calls[item] = attempt + 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            text = await self.behaviour(item, attempt)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
        return Completion(text=text, input_tokens=3, output_tokens=1, stop_reason="stop")

    async def aclose(self) -> None:
        return None


def _run(client: FakeClient, items: list[str], **policy: object) -> dict[str, Record]:
    records: dict[str, Record] = {}
    requests = [
        Request("t", item, SPEC, (("user", item),), GenConfig(max_tokens=8)) for item in items
    ]
    engine = Engine(
        {SPEC.identity: client}, Policy(**policy), lambda r: records.__setitem__(r.item, r)
    )
    asyncio.run(engine.run(requests))
    return records


def test_a_transient_failure_is_retried_and_then_answered() -> None:
    async def flaky(item: str, attempt: int) -> str:
        if attempt == 0:
            raise AttemptFailed("HTTP 500: boom", transient=True, retry_after=0)
        return f"answer {item}"

    records = _run(FakeClient(flaky), ["a", "b"], max_retries=2)
    assert {r.output for r in records.values()} == {"answer a", "answer b"}
    assert all(r.error is None and r.attempts == 2 for r in records.values())


def test_a_permanent_failure_is_not_retried() -> None:
    async def refused(item: str, attempt: int) -> str:
        raise AttemptFailed("HTTP 401: bad key", transient=False)

    client = FakeClient(refused)
    record = _run(client, ["a"], max_retries=5)["a"]
    assert client.calls == {"a": 1}
    assert record.error == "HTTP 401: bad key (after 1 attempt)" and record.output == ""


def test_exhausted_retries_become_an_error_with_the_cause() -> None:
    async def always(item: str, attempt: int) -> str:
        raise AttemptFailed("HTTP 503: overloaded", transient=True, retry_after=0)

    record = _run(FakeClient(always), ["a"], max_retries=3)["a"]
    assert record.error == "HTTP 503: overloaded (after 4 attempts)" and record.attempts == 4


def test_retry_after_is_waited_for_before_the_next_attempt() -> None:
    seen: list[float] = []

    async def limited(item: str, attempt: int) -> str:
        seen.append(time.monotonic())
        if attempt == 0:
            raise AttemptFailed("HTTP 429: slow down", transient=True, retry_after=0.15)
        return "ok"

    assert _run(FakeClient(limited), ["a"], max_retries=1)["a"].output == "ok"
    # the server asked for 0.15 s (plus at most 5 % of jitter); the engine's own backoff
    # would have waited 0.375–0.5 s
    assert 0.15 <= seen[1] - seen[0] < 0.35


def test_a_told_wait_gets_at_most_five_percent_of_jitter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each 429 says 0.2 s: every wait the engine sleeps is 0.2-0.21 s (it once added up to
    10 % + 50 ms, paid again at each step of a chain of 429s)."""
    waits: list[float] = []
    sleep = asyncio.sleep

    def recorded(delay: float, *args: object) -> object:
        waits.append(delay)
        return sleep(delay, *args)

    async def limited(item: str, attempt: int) -> str:
        if attempt == 0:
            raise AttemptFailed("HTTP 429: slow down", transient=True, retry_after=0.2)
        return "ok"

    monkeypatch.setattr(asyncio, "sleep", recorded)
    records = _run(FakeClient(limited), [f"i{n}" for n in range(20)], max_retries=1)
    assert all(r.output == "ok" for r in records.values())
    assert len(waits) == 20 and all(0.2 <= w <= 0.21 for w in waits)


def test_a_server_error_after_told_waits_gets_the_first_backoff_step() -> None:
    """Two 429s with Retry-After were waited out as told; the 500 after them is the first
    guessed wait (0.375–0.5 s), not the third step of the exponential backoff (1.5–2 s)."""
    seen: list[float] = []

    async def flaky(item: str, attempt: int) -> str:
        seen.append(time.monotonic())
        if attempt < 2:
            raise AttemptFailed("HTTP 429: slow down", transient=True, retry_after=0.05)
        if attempt == 2:
            raise AttemptFailed("HTTP 500: oops", transient=True)
        return "ok"

    assert _run(FakeClient(flaky), ["a"], max_retries=3)["a"].output == "ok"
    assert 0.375 <= seen[3] - seen[2] < 0.9


def test_a_hung_attempt_ends_at_the_per_attempt_timeout_and_is_retried() -> None:
    async def hangs_once(item: str, attempt: int) -> str:
        if attempt == 0:
            await asyncio.sleep(30)
        return "ok"

    started = time.monotonic()
    record = _run(FakeClient(hangs_once), ["a"], timeout=0.2, max_retries=1, hedge_after=0)["a"]
    assert record.output == "ok" and record.attempts == 2
    assert time.monotonic() - started < 5  # bounded by the attempt timeout, not the hang


def test_a_model_in_this_process_is_never_cut_off_by_the_attempt_timeout() -> None:
    """A local model's time is queueing and computing a batch: a timeout would waste it."""

    async def slow_batch(item: str, attempt: int) -> str:
        await asyncio.sleep(0.5)
        return "computed"

    client = FakeClient(slow_batch)
    client.in_process = True
    record = _run(client, ["a"], timeout=0.1, max_retries=2)["a"]
    assert record.output == "computed" and record.attempts == 1 and client.calls == {"a": 1}


def test_a_slow_attempt_is_raced_by_a_hedge_and_the_loser_is_cancelled() -> None:
    async def first_hangs(item: str, attempt: int) -> str:
        if attempt == 0:
            await asyncio.sleep(30)
        return "hedged"

    client = FakeClient(first_hangs)
    started = time.monotonic()
    record = _run(client, ["a"], timeout=20, max_retries=0, hedge_after=0.1)["a"]
    assert record.output == "hedged" and record.error is None and record.attempts == 2
    assert time.monotonic() - started < 5
    assert client.cancelled == 1  # the hung connection was closed, not left running


def test_a_hedge_that_hangs_too_is_raced_in_turn() -> None:
    async def two_hang(item: str, attempt: int) -> str:
        if attempt < 2:
            await asyncio.sleep(30)
        return "third"

    client = FakeClient(two_hang)
    started = time.monotonic()
    record = _run(client, ["a"], timeout=20, max_retries=0, hedge_after=0.1)["a"]
    assert record.output == "third" and record.attempts == 3 and client.cancelled == 2
    assert time.monotonic() - started < 5


def test_a_hedge_that_fails_fast_ends_the_race_and_the_retry_follows() -> None:
    async def hang_then_refuse(item: str, attempt: int) -> str:
        if attempt == 0:
            await asyncio.sleep(30)  # a hung connection
        if attempt == 1:
            raise AttemptFailed("HTTP 429: slow down", transient=True, retry_after=0)
        return "third time"

    client = FakeClient(hang_then_refuse)
    started = time.monotonic()
    record = _run(client, ["a"], timeout=20, max_retries=2, hedge_after=0.1)["a"]
    assert record.output == "third time" and record.attempts == 3
    assert client.cancelled == 1 and time.monotonic() - started < 5


def test_an_attempt_started_before_the_endpoint_answered_is_still_hedged() -> None:
    """The hedging delay comes from answers that arrive after a hung attempt began."""

    async def first_hangs(item: str, attempt: int) -> str:
        if item == "i0" and attempt == 0:
            await asyncio.sleep(30)
        await asyncio.sleep(0.01)
        return item

    client = FakeClient(first_hangs)
    started = time.monotonic()
    records = _run(client, [f"i{n}" for n in range(30)], timeout=20, max_connections=4)
    assert records["i0"].output == "i0" and records["i0"].attempts == 2
    assert time.monotonic() - started < 10  # hedged within a second, not timed out at 20


def test_a_request_queued_for_a_connection_sleeps_until_it_has_one(monkeypatch) -> None:
    """32 requests on 2 connections queue for up to 1.6 s: each looks at the hedging clock
    about twice (on getting its connection, then on its answer), where polling every 0.25 s
    while queued looked five times on average, and hundreds of times in a large run."""
    from evalkit.run.engine import _Endpoint

    looks = []
    delay = _Endpoint.hedge_delay
    monkeypatch.setattr(_Endpoint, "hedge_delay", lambda self, p: looks.append(1) or delay(self, p))

    async def answer(item: str, attempt: int) -> str:
        await asyncio.sleep(0.1)
        return item

    items = [f"i{n}" for n in range(32)]
    records = _run(FakeClient(answer), items, max_connections=2)
    assert [records[i].output for i in items] == items
    assert len(looks) <= 3 * len(items)


def test_the_hedging_delay_is_twice_the_endpoints_95th_percentile_answer() -> None:
    """Steady fast answers: the 0.25 s floor. A tail of long answers (one in ten takes 0.4 s)
    moves the delay past them, where five times the median (0.1 s) would race each of them."""
    from evalkit.run.engine import _Endpoint

    endpoint = _Endpoint(4)
    for seconds in [0.02] * 19:
        endpoint.answered(seconds)
    assert endpoint.hedge_delay(Policy()) is None  # fewer than 20 answers: no tail known yet
    endpoint.answered(0.02)
    assert endpoint.hedge_delay(Policy()) == pytest.approx(0.25)
    for seconds in ([0.02] * 9 + [0.4]) * 20:
        endpoint.answered(seconds)
    assert endpoint.hedge_delay(Policy()) == pytest.approx(0.8)
    assert endpoint.hedge_delay(Policy(hedge_after=3)) == 3
    assert endpoint.hedge_delay(Policy(hedge_after=0)) is None


def test_a_hung_connection_at_a_fast_endpoint_is_raced_within_a_second() -> None:
    """Answers of 10 ms: the hung first attempt of i0 is raced after about 0.25 s (the delay
    once was never under 1 s, a long wait at a server that answers in milliseconds)."""
    began: dict[tuple[str, int], float] = {}

    async def first_hangs(item: str, attempt: int) -> str:
        began[item, attempt] = time.monotonic()
        if item == "i0" and attempt == 0:
            await asyncio.sleep(30)
        await asyncio.sleep(0.01)
        return item

    items = ["warm", "w1", "w2", "w3", "w4", *(f"i{n}" for n in range(20))]
    client = FakeClient(first_hangs)
    records = _run(client, items, timeout=20, max_connections=2, max_retries=0)
    assert records["i0"].output == "i0" and records["i0"].attempts == 2
    assert began["i0", 1] - began["i0", 0] < 0.9


def test_answers_in_the_endpoints_own_tail_are_not_raced() -> None:
    """Every tenth answer takes 0.3 s, the rest 10 ms: long answers, not hung ones. Five times
    the median (50 ms, so the 0.25 s floor) would race all 20 long ones. Here the first few
    are raced, while the long answers still in flight are missing from the endpoint's recent
    times; once those times show the tail, no long answer is sent twice."""

    async def some_long(item: str, attempt: int) -> str:
        await asyncio.sleep(0.3 if int(item) % 10 == 9 else 0.01)
        return item

    client = FakeClient(some_long)
    items = [str(n) for n in range(200)]
    records = _run(client, items, timeout=20, max_connections=4, max_retries=0)
    assert {r.output for r in records.values()} == set(items)
    assert all(client.calls[item] == 1 for item in items[100:])
    assert sum(client.calls.values()) - len(items) <= 10


def test_hedging_off_waits_for_the_attempt() -> None:
    async def slow(item: str, attempt: int) -> str:
        await asyncio.sleep(0.3)
        return "slow"

    client = FakeClient(slow)
    record = _run(client, ["a"], timeout=5, hedge_after=0)["a"]
    assert record.output == "slow" and record.attempts == 1 and client.calls == {"a": 1}


def test_connections_in_flight_never_exceed_the_limit() -> None:
    async def quick(item: str, attempt: int) -> str:
        await asyncio.sleep(0.01)
        return item

    client = FakeClient(quick)
    records = _run(client, [f"i{n}" for n in range(60)], max_connections=4)
    assert len(records) == 60 and client.max_in_flight == 4


def test_total_timeout_stops_retrying() -> None:
    async def limited(item: str, attempt: int) -> str:
        raise AttemptFailed("HTTP 429: slow down", transient=True, retry_after=5)

    started = time.monotonic()
    record = _run(FakeClient(limited), ["a"], max_retries=10, total_timeout=1)["a"]
    assert "run.total_timeout reached" in record.error and record.attempts == 1
    assert time.monotonic() - started < 1


def test_an_unexpected_client_exception_costs_one_request_not_the_run() -> None:
    async def buggy(item: str, attempt: int) -> str:
        if item == "bad":
            raise KeyError("choices")
        return "fine"

    records = _run(FakeClient(buggy), ["bad", "good"], max_retries=3)
    assert records["good"].output == "fine"
    assert records["bad"].error.startswith("KeyError") and records["bad"].attempts == 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "x"}, None),
    ],
)
def test_retry_after_headers(headers: dict, expected: float | None) -> None:
    from evalkit.models.clients import retry_after

    assert retry_after(headers) == expected


def _rec(task: str, error: str | None = None, cached: bool = False) -> Record:
    return Record(task, "i", "k", "", error, None, None, None, 1, cached)


def test_progress_counts_each_task_and_reads_as_one_log_line() -> None:
    import io

    from evalkit.run.progress import Progress

    stream = io.StringIO()
    progress = Progress(
        labels={"b": "baseline · heldout", "c": "candidate · heldout"},
        totals={"b": 4, "c": 4},
        mode="log",
        stream=stream,
    )
    progress.start()
    for rec in (_rec("b"), _rec("b", error="HTTP 500"), _rec("c", cached=True), _rec("c")):
        progress.add(rec)
    progress.stop()  # a log ends with the final line
    line = stream.getvalue().strip()
    assert line.startswith("progress [") and "4/8 (50%)" in line and "1 errors" in line
    assert "baseline · heldout 2/4" in line and "candidate · heldout 2/4" in line
    assert "req/s" in line and "ETA" in line


def test_waiting_for_a_connection_is_not_hedged() -> None:
    """One connection, four answers of 0.15 s each, hedging after 0.25 s: the last request
    waits 0.45 s for the connection, yet none of them hung; each is sent exactly once."""

    async def steady(item: str, attempt: int) -> str:
        await asyncio.sleep(0.15)
        return item

    client = FakeClient(steady)
    items = ["a", "b", "c", "d"]
    records = _run(client, items, max_connections=1, hedge_after=0.25, max_retries=0)
    assert {r.output for r in records.values()} == set(items)
    assert client.calls == dict.fromkeys(items, 1) and client.cancelled == 0


def test_a_retry_gets_the_next_connection_before_requests_that_began_later() -> None:
    """A retry coming back from its wait is not queued behind requests admitted meanwhile:
    the slot goes to the request that began first."""
    order: list[tuple[str, int]] = []

    async def first_fails(item: str, attempt: int) -> str:
        order.append((item, attempt))
        if (item, attempt) == ("a", 0):
            raise AttemptFailed("HTTP 429: slow down", transient=True, retry_after=0.05)
        await asyncio.sleep(0.1)
        return item

    items = ["a", *(f"q{i}" for i in range(8))]
    records = _run(FakeClient(first_fails), items, max_connections=1, max_retries=1)
    assert records["a"].output == "a" and records["a"].attempts == 2
    # while a waited out its 0.05 s, q0 took the connection; a's retry came next, before q1..q7
    assert order[:4] == [("a", 0), ("q0", 0), ("a", 1), ("q1", 0)]


def test_a_waiter_cancelled_in_the_queue_gives_up_no_connection() -> None:
    """Hedges that lose the race are cancelled, some while still queued for a connection; the
    connections they would have had stay usable (every request completes)."""
    from evalkit.run.engine import _Slots

    async def scenario() -> list[str]:
        slots = _Slots(1)
        done: list[str] = []

        async def use(name: str, began: float, seconds: float) -> None:
            async with slots.held(began):
                await asyncio.sleep(seconds)
                done.append(name)

        holder = asyncio.create_task(use("holder", 0.0, 0.1))
        await asyncio.sleep(0)
        doomed = asyncio.create_task(use("doomed", 1.0, 0.0))
        later = asyncio.create_task(use("later", 2.0, 0.0))
        await asyncio.sleep(0.01)
        doomed.cancel()
        await asyncio.gather(holder, later)
        with pytest.raises(asyncio.CancelledError):
            await doomed
        async with asyncio.timeout(1):  # the slot is free again
            await use("after", 3.0, 0.0)
        return done

    assert asyncio.run(scenario()) == ["holder", "later", "after"]


@pytest.mark.parametrize("draw", [0.0, 0.37, 0.999])
def test_guessed_waits_are_the_openai_sdks_own(
    draw: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a Retry-After, the wait before each retry is what the OpenAI SDK itself
    computes (openai._base_client), for the same random draw."""
    import random

    import openai
    from openai import _base_client
    from openai._models import FinalRequestOptions

    from evalkit.run.engine import backoff

    class Fixed(random.Random):
        def random(self) -> float:
            return draw

    monkeypatch.setattr(_base_client, "random", lambda: draw)
    client = openai.OpenAI(api_key="not-used", base_url="http://127.0.0.1:9/v1", max_retries=10)
    options = FinalRequestOptions(method="post", url="/chat/completions")
    for retry in range(8):
        sdk = client._calculate_retry_timeout(10 - retry, options, None)
        assert backoff(retry, Fixed()) == pytest.approx(sdk, rel=1e-12)
