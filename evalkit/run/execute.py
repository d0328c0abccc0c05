"""Execute a plan: every request answered from the journal, the cache, or a model, in order.

1. Requests the run folder's journal already answered (a resumed run) are not sent again.
2. Requests the response cache answers are not sent either; no model is even created
   (a cached re-run of a local-model suite loads no weights).
3. The rest go to the engine: in this process, or split over worker processes (each with
   its share of the connections and its own journal) when there is enough work to share.
Every record is appended to the journal as it is made; the result maps every planned
(task, item) to its record, and a request that got none is an error record, never a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from evalkit.errors import EvalkitError, InputError, RunFailed
from evalkit.hashing import sha256_text
from evalkit.models.clients import Client, GenConfig, make_client
from evalkit.names import RECORDED
from evalkit.run.cache import ResponseCache, cached_record
from evalkit.run.engine import Engine, Policy, Request, error_record
from evalkit.run.inspect_task import run_inspect_tasks
from evalkit.run.journal import Journal, Record, journal_files, latest_records, parse_lines
from evalkit.run.plan import ModelSpec, Plan
from evalkit.run.progress import Progress
from evalkit.run.servers import ServerPool
from evalkit.scoring.probes import INSPECT

# A worker process takes about a second to start; one is worth it for each few seconds of
# client CPU the requests will need (see Client.cpu_ms), not for network waiting.
CPU_S_PER_WORKER = 4.0
POLL_S = 0.5


@dataclass(frozen=True)
class ExecSettings:
    """What the CLI and the suite decide about how (not what) to run."""

    run_dir: Path  # the journal lives here
    cache_dir: Path
    policy: Policy = field(default_factory=Policy)
    cache: bool = True
    client: str = "auto"  # auto | native | inspect
    workers: int | None = 1  # None: automatic, up to one per core
    display: str = "none"  # live | log | none
    # the servers arms are answered by (`server:`); None: execute starts and stops its own
    servers: ServerPool | None = None


Records = dict[tuple[str, str], Record]


def plan_requests(plan: Plan) -> list[Request]:
    """Every request of the plan, in plan order."""
    out = []
    for tp in plan.tasks:
        if tp.method in (INSPECT, RECORDED):  # inspect's eval loop; outputs that already exist
            continue
        config = GenConfig(
            max_tokens=tp.max_tokens,
            temperature=tp.temperature,
            top_p=tp.top_p,
            seed=tp.seed,
            stop=tuple(tp.stop or ()),
        )
        out += [
            Request(tp.name, s.id, tp.model, s.messages, config, s.continuations)
            for s in tp.samples
        ]
    return out


@contextlib.contextmanager
def isolated_inspect_env() -> Iterator[None]:
    """Hide ambient INSPECT_* variables from inspect's providers while a run uses them."""
    hidden = {k: v for k, v in os.environ.items() if k.startswith("INSPECT_")}
    for key in hidden:
        del os.environ[key]
    try:
        yield
    finally:
        os.environ.update(hidden)


def _progress(plan: Plan, display: str) -> Progress:
    labels = {tp.name: f"{tp.arm} · {tp.dataset}" for tp in plan.tasks}
    totals = {tp.name: len(tp.samples) for tp in plan.tasks}
    return Progress(labels=labels, totals=totals, mode=display)


def execute(plan: Plan, settings: ExecSettings) -> Records:
    """Answer every request of the plan; raises InputError (bad model) or KeyboardInterrupt."""
    requests = plan_requests(plan)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    progress = _progress(plan, settings.display)
    known = {
        k: r for k, r in latest_records(journal_files(settings.run_dir)).items() if r.error is None
    }
    records: Records = {}
    pending: list[Request] = []
    for req in requests:
        rec = known.get((req.task, req.item))
        if rec is not None and rec.key == req.key:
            records[(req.task, req.item)] = rec
            progress.add(rec)
        else:
            pending.append(req)
    cache = ResponseCache(settings.cache_dir) if settings.cache else None
    try:
        if cache is not None and pending:
            pending = _from_cache(pending, cache, settings.run_dir, records, progress)
        if pending:
            with isolated_inspect_env():
                _send(pending, settings, cache, progress, records)
        inspect_tasks = [tp for tp in plan.tasks if tp.method == INSPECT]
        if inspect_tasks:
            with isolated_inspect_env():
                records.update(
                    run_inspect_tasks(inspect_tasks, known, settings.policy, settings.run_dir)
                )
    finally:
        if cache is not None:
            cache.close()
    for req in requests:
        key = (req.task, req.item)
        rec = records.get(key)
        if rec is None or rec.key != req.key:
            records[key] = error_record(req, "no result recorded for this request", 0)
    records.update(recorded_records(plan))
    return records


def recorded_records(plan: Plan) -> Records:
    """A recorded arm's outputs as records: no model call, so nothing to journal or cache."""
    out: Records = {}
    for tp in plan.tasks:
        if tp.method != RECORDED:
            continue
        for s in tp.samples:
            key = sha256_text(json.dumps([tp.model.identity, tp.name, s.id, s.recorded]))
            error = None if s.recorded is not None else "no recorded output for this item"
            out[(tp.name, s.id)] = Record(
                task=tp.name, item=s.id, key=key, output=s.recorded or "", error=error,
                input_tokens=None, output_tokens=None, latency_s=None, attempts=0, cached=False,
            )  # fmt: skip
    return out


def _from_cache(
    pending: list[Request], cache: ResponseCache, run_dir: Path, records: Records,
    progress: Progress,
) -> list[Request]:  # fmt: skip
    """Answer what the cache holds (journalled, so a resume needs no cache); return the rest."""
    hits = cache.get_many(req.key for req in pending)
    if not hits:
        return pending
    rest, found = [], []
    for req in pending:
        answer = hits.get(req.key)
        if answer is None:
            rest.append(req)
            continue
        rec = cached_record(req.task, req.item, req.key, answer)
        found.append(rec)
        records[(req.task, req.item)] = rec
        progress.add(rec)
    journal = Journal(run_dir / "journal.jsonl")
    try:
        journal.extend(found)
    finally:
        journal.close()
    return rest


def _clients(requests: Sequence[Request], settings: ExecSettings) -> dict[str, Client]:
    clients: dict[str, Client] = {}
    for req in requests:
        if req.model.identity not in clients:
            clients[req.model.identity] = make_client(
                req.model, settings.client, settings.policy.max_connections
            )
    return clients


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _worker_count(
    requests: Sequence[Request], clients: dict[str, Client], wanted: int | None
) -> int:
    """`wanted` processes, or automatically one per CPU_S_PER_WORKER of estimated client CPU
    (at most one per core); always one for a model that runs in this process."""
    # a model in this process (local weights) uses every core itself
    if any(c.in_process for c in clients.values()):
        return 1
    if wanted is not None:
        return wanted
    cpu_s = sum(clients[r.model.identity].cpu_ms for r in requests) / 1000
    return max(1, min(available_cores(), math.ceil(cpu_s / CPU_S_PER_WORKER)))


def _send(
    pending: list[Request], settings: ExecSettings, cache: ResponseCache | None,
    progress: Progress, records: Records,
) -> None:  # fmt: skip
    """Send `pending`; each record is journalled, cached, counted and added to `records` as it
    is made (in a worker: read from its journal), so the journal is never read back whole."""
    with contextlib.ExitStack() as stack:
        servers = settings.servers or stack.enter_context(
            ServerPool(
                (r.model.server for r in pending if r.model.server), log_dir=settings.run_dir
            )
        )
        # every server is up before any request is sent; the requests carry its URL
        bound: dict[str, ModelSpec] = {}
        for r in pending:
            if r.model.server and r.model.identity not in bound:
                bound[r.model.identity] = servers.bind(r.model)
        pending = [replace(r, model=bound[r.model.identity]) if r.model.server else r
                   for r in pending]  # fmt: skip
        _send_bound(pending, settings, cache, progress, records)


def _send_bound(
    pending: list[Request], settings: ExecSettings, cache: ResponseCache | None,
    progress: Progress, records: Records,
) -> None:  # fmt: skip
    # clients are made here first, so a bad model or a missing key stops the run before
    # any request is sent, with the suite key that names it
    clients = _clients(pending, settings)
    workers = _worker_count(pending, clients, settings.workers)
    progress.start()
    try:
        _dispatch(pending, settings, cache, progress, records, clients, workers)
    finally:
        progress.stop()


def _dispatch(
    pending: list[Request], settings: ExecSettings, cache: ResponseCache | None,
    progress: Progress, records: Records, clients: dict[str, Client], workers: int,
) -> None:  # fmt: skip
    if workers == 1:
        journal = Journal(settings.run_dir / "journal.jsonl")

        def sink(rec: Record) -> None:
            journal.append(rec)
            if cache is not None:
                cache.put(rec)
            _made(rec, progress, records)

        try:
            _run_async(_engine_run(clients, settings.policy, sink, pending))
        finally:
            journal.close()
        return
    _run_workers(pending, settings, workers, progress, records)


def _made(rec: Record, progress: Progress, records: Records) -> None:
    """A record this run just made (each request gets one): counted and kept."""
    records[(rec.task, rec.item)] = rec
    progress.add(rec)


async def _engine_run(
    clients: dict[str, Client], policy: Policy, sink: Callable[[Record], None],
    requests: Sequence[Request],
) -> None:  # fmt: skip
    try:
        await Engine(clients, policy, sink).run(requests)
    finally:
        for client in clients.values():
            await client.aclose()


def _run_async(coro: Any) -> None:
    """asyncio.run, also from inside a running loop (a notebook): then on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coro)
        return
    failure: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro)
        except BaseException as e:  # handed back to the caller's thread
            failure.append(e)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


# ---- worker processes ----------------------------------------------------------------------


def _share(total: int, workers: int, k: int) -> int:
    """Worker k's share of `total` connections: together exactly `total`, each at least 1."""
    return max(1, total // workers + (1 if k < total % workers else 0))


def _worker_main(
    requests: list[Request], settings: ExecSettings, journal_path: Path, fatal_path: Path
) -> None:
    """A worker process: its share of the requests through its own engine and journal."""
    cache = ResponseCache(settings.cache_dir) if settings.cache else None
    journal = Journal(journal_path)

    def sink(rec: Record) -> None:
        journal.append(rec)
        if cache is not None:
            cache.put(rec)

    try:
        with isolated_inspect_env():
            clients = _clients(requests, settings)
            _run_async(_engine_run(clients, settings.policy, sink, requests))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    except EvalkitError as e:  # the parent re-raises it with its exit code
        fatal_path.write_text(
            json.dumps({"type": type(e).__name__, "message": str(e)}), encoding="utf-8"
        )
        raise SystemExit(e.exit_code) from None
    finally:
        journal.close()
        if cache is not None:
            cache.close()


class _Tail:
    """Reads the lines appended to a journal since the last call."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.partial = ""

    def new_records(self) -> list[Record]:
        if not self.path.exists():
            return []
        with self.path.open(encoding="utf-8", errors="replace") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
            self.offset = fh.tell()
        text, _, self.partial = (self.partial + chunk).rpartition("\n")
        return list(parse_lines(line + "\n" for line in text.splitlines())) if text else []


def _run_workers(
    requests: list[Request], settings: ExecSettings, workers: int, progress: Progress,
    records: Records,
) -> None:  # fmt: skip
    ctx = multiprocessing.get_context("spawn")
    procs = []
    tails = []
    fatal_paths = []
    for k in range(workers):
        share = replace(
            settings,
            servers=None,  # the parent owns them; the requests already carry their URLs
            policy=replace(
                settings.policy,
                max_connections=_share(settings.policy.max_connections, workers, k),
            ),
        )
        journal_path = settings.run_dir / f"journal-{k}.jsonl"
        fatal_path = settings.run_dir / f".worker-{k}.error"
        fatal_path.unlink(missing_ok=True)
        proc = ctx.Process(
            target=_worker_main,
            args=(requests[k::workers], share, journal_path, fatal_path),
            name=f"evalkit-worker-{k}",
        )
        proc.start()
        procs.append(proc)
        tails.append(_Tail(journal_path))
        tails[-1].offset = journal_path.stat().st_size if journal_path.exists() else 0
        fatal_paths.append(fatal_path)
    try:
        while True:
            alive = [p.sentinel for p in procs if p.is_alive()]
            # read after the look: once none is alive, every line they wrote is read here
            for tail in tails:
                for rec in tail.new_records():
                    _made(rec, progress, records)
            if not alive:
                break
            # woken the moment a worker ends: a plain sleep kept the run up to POLL_S longer
            multiprocessing.connection.wait(alive, timeout=POLL_S)
    finally:
        for p in procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join()
    for fatal in fatal_paths:
        if fatal.exists():
            data = json.loads(fatal.read_text(encoding="utf-8"))
            fatal.unlink()
            kind = InputError if data["type"] == "InputError" else RunFailed
            raise kind(data["message"])
