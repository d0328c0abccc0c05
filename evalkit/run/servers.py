"""Model servers a run starts itself (an arm's or the judge's `server:`): started,
health-checked, stopped.

    with ServerPool(server_specs(plan, judge), log_dir=run_dir, source=suite_path) as pool:
        request = replace(request, model=pool.bind(request.model))  # starts it if need be

A server starts the first time a request needs it (a fully cached re-run starts none), as
`<command> <model> --host 127.0.0.1 --port <port> [--enable-lora --lora-modules name=path ...]
<args>` in a session (process group) of its own, its output in `<log_dir>/server-<users>.log`
(`server-candidate.log`, `server-baseline+judge.log`). Arms (and the judge) whose servers
have the same engine, model, arguments, port and command share one process, which loads
every one's adapter. The pool waits for `GET /health` to answer 200;
if the process exits first, or `startup_timeout_s` passes, it is stopped and the run fails
with the key and the log's last lines. On leaving the pool (success, failure, Ctrl-C and the
SIGTERM the CLI turns into one) every server's process group gets SIGTERM, then SIGKILL
after `shutdown_timeout_s`.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType

from evalkit.errors import InputError, RunFailed
from evalkit.run.plan import ModelSpec, Plan, ServerSpec

HOST = "127.0.0.1"
POLL_S = 0.25
HEALTH_TIMEOUT_S = 2.0
LOG_TAIL_LINES = 5


def server_specs(plan: Plan, *models: ModelSpec | None) -> list[ServerSpec]:
    """Every server the plan's arms, and `models` (the judge), are answered by."""
    specs = [tp.model for tp in plan.tasks] + [m for m in models if m is not None]
    return [m.server for m in specs if m.server is not None]


def free_port() -> int:
    """A port no one listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def command_line(group: list[ServerSpec], port: int) -> list[str]:
    """The server's argv: the first spec's launch settings, every spec's adapter.

    >>> spec = ServerSpec("vllm", "org/base", ("b", "/ad/b"), ("--dtype", "half"), None,
    ...                   1.0, 1.0, ("vllm", "serve"), "arms.candidate.server")
    >>> command_line([spec], 8001)  # doctest: +NORMALIZE_WHITESPACE
    ['vllm', 'serve', 'org/base', '--host', '127.0.0.1', '--port', '8001',
     '--enable-lora', '--lora-modules', 'b=/ad/b', '--dtype', 'half']
    """
    first = group[0]
    argv = [*first.command, first.model, "--host", HOST, "--port", str(port)]
    adapters = sorted({s.adapter for s in group if s.adapter is not None})
    if adapters:
        argv += ["--enable-lora", "--lora-modules", *(f"{n}={p}" for n, p in adapters)]
    return [*argv, *first.args]


@dataclass
class Running:
    """A started server: its process (the leader of its own process group) and its URL."""

    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT/v1, the arm's base_url
    log: Path
    shutdown_timeout_s: float

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL to whatever is left after the grace period."""
        deadline = time.monotonic() + self.shutdown_timeout_s
        _signal_group(self.process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=self.shutdown_timeout_s)
        # vLLM's engine processes are children of the leader: wait for them too
        while _group_alive(self.process.pid) and time.monotonic() < deadline:
            time.sleep(POLL_S / 5)
        _signal_group(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    shown = [line.strip() for line in lines if line.strip()][-LOG_TAIL_LINES:]
    return " | ".join(shown)


class ServerPool:
    """The servers of one run; each started on first use and all stopped on leaving."""

    def __init__(
        self, specs: Iterable[ServerSpec], log_dir: Path, source: Path | None = None
    ) -> None:
        self._groups: dict[tuple[object, ...], list[ServerSpec]] = {}
        for spec in specs:
            group = self._groups.setdefault(spec.launch_key, [])
            if spec not in group:
                group.append(spec)
        for group in self._groups.values():
            _check_adapters(group, source)
        self._log_dir = log_dir
        self._source = source
        self._running: dict[tuple[object, ...], Running] = {}

    def __enter__(self) -> ServerPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def bind(self, spec: ModelSpec) -> ModelSpec:
        """`spec` with its server's URL as base_url, the server started if it is not yet."""
        if spec.server is None:
            return spec
        return replace(spec, base_url=self.url(spec.server))

    def url(self, server: ServerSpec) -> str:
        running = self._running.get(server.launch_key)
        if running is None:
            running = self._start(self._groups.get(server.launch_key) or [server])
        return running.url

    def close(self) -> None:
        """Stop every server started, each even if stopping another failed."""
        self._stop(list(self._running))

    def stop_others(self, keep: ServerSpec) -> None:
        """Stop every running server but `keep`'s: the judge pass frees the GPU the arms'
        servers hold before the judge's server loads (one stopped is started again if a
        later request needs it)."""
        self._stop([k for k in self._running if k != keep.launch_key])

    def _stop(self, keys: list[tuple[object, ...]]) -> None:
        for server in [self._running.pop(k) for k in keys]:
            server.stop()

    def _place(self, spec: ServerSpec) -> str:
        return f"{self._source} [{spec.where}]" if self._source else spec.where

    def _start(self, group: list[ServerSpec]) -> Running:
        first = group[0]
        port = first.port or free_port()
        argv = command_line(group, port)
        # arms.candidate.server → candidate, judge.server → judge
        users = "+".join(s.where.removeprefix("arms.").removesuffix(".server") for s in group)
        self._log_dir.mkdir(parents=True, exist_ok=True)
        log = self._log_dir / f"server-{users}.log"
        with log.open("ab") as out:
            out.write(f"evalkit: starting {shlex.join(argv)}\n".encode())
            out.flush()
            try:
                process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own group: stopped whole, never sent our ^C
                )
            except OSError as e:
                raise InputError(
                    f"cannot start the {first.engine} server {argv[0]!r}: {e.strerror or e} "
                    f"(install {first.engine} on this machine, or give base_url for a server "
                    "that is already running)",
                    where=f"{first.where}.command",
                ) from None
            out.write(f"evalkit: server pid {process.pid}\n".encode())
        running = Running(
            process=process,
            url=f"http://{HOST}:{port}/v1",
            log=log,
            shutdown_timeout_s=first.shutdown_timeout_s,
        )
        self._running[first.launch_key] = running  # stopped on leaving, whatever happens next
        self._wait_healthy(running, first)
        return running

    def _wait_healthy(self, running: Running, spec: ServerSpec) -> None:
        import urllib.error  # only a suite with servers pays for urllib's imports
        import urllib.request

        # the server is on loopback: an HTTP(S)_PROXY in the environment must not reroute it
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        health = running.url.removesuffix("/v1") + "/health"
        deadline = time.monotonic() + spec.startup_timeout_s
        while True:
            code = running.process.poll()
            if code is not None:
                self._forget(running)
                raise RunFailed(
                    f"{self._place(spec)}: the {spec.engine} server exited with code {code} "
                    f"before it was healthy; {running.log}: {_tail(running.log)}"
                )
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                opener.open(health, timeout=HEALTH_TIMEOUT_S) as response,
            ):
                if response.status == 200:
                    return
            if time.monotonic() >= deadline:
                self._forget(running)
                raise RunFailed(
                    f"{self._place(spec)}.startup_timeout_s: the {spec.engine} server did not "
                    f"answer {health} within {spec.startup_timeout_s:g} s (stopped); its log: "
                    f"{running.log}"
                )
            time.sleep(POLL_S)

    def _forget(self, running: Running) -> None:
        running.stop()
        self._running = {k: r for k, r in self._running.items() if r is not running}


def _check_adapters(group: list[ServerSpec], source: Path | None) -> None:
    """One server cannot serve two adapters under one name."""
    paths: dict[str, str] = {}
    for spec in group:
        if spec.adapter is None:
            continue
        name, path = spec.adapter
        if paths.setdefault(name, path) != path:
            raise InputError(
                f"two users of this shared server (arms or the judge) name different "
                f"adapters {name!r}; give each adapter its own name",
                path=source,
                where=f"{spec.where}.adapter.name",
            )
