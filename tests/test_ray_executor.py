"""`evalkit run --executor ray` on a real local Ray cluster (a head without CPUs and two worker
nodes of one CPU each, so each shard runs in a worker process of its own): the merged run
equals the single-process run, and a shard whose worker is killed resumes from its journal."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.run.journal import read_records
from tests.conftest import ITEMS, SUITE, write_jsonl
from tests.test_runs import _samples, _stable

needs_ray = pytest.mark.skipif(
    importlib.util.find_spec("ray") is None,
    reason="ray is not installed (pip install -e '.[ray]'); CI installs it",
)
CLUSTER_START_S = 60
# Ray 2.5x turns on token authentication by default; this test cluster and its drivers do
# without (they are one machine's processes, gone with the test)
RAY_ENV = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ray_start(*flags: str) -> subprocess.Popen:
    """`ray start --block` in a process group of its own: its Ray processes stay in it, so
    the finalizer stops exactly this cluster (never `ray stop`, which stops every one)."""
    ray = Path(sys.executable).with_name("ray")
    return subprocess.Popen(
        # one machine: the loopback address, not the one Ray would detect
        [
            str(ray),
            "start",
            "--block",
            "--disable-usage-stats",
            "--node-ip-address",
            "127.0.0.1",
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=RAY_ENV,
        start_new_session=True,
    )


def _wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + CLUSTER_START_S
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        assert proc.poll() is None, "ray start --head exited"
        assert time.monotonic() < deadline, "the Ray head did not start"
        time.sleep(0.2)


def _stop(proc: subprocess.Popen) -> None:
    # SIGKILL: on SIGTERM a Ray node drains for up to 30 s first
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


# a driver that returns once the cluster's live nodes have argv[2] CPUs between them
JOINED = """
import sys, time, ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
while sum(n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]) < int(sys.argv[2]):
    time.sleep(0.2)
"""
JOIN_TRIES = 3


def _join(address: str, cpus: int) -> subprocess.Popen:
    """A worker node of one CPU, counted by the cluster (which then has `cpus` CPUs).

    A raylet picks its ports free and binds them a moment later; in a busy test run another
    process can take one meanwhile ("bind: Address already in use"), the raylet aborts and
    `ray start --block` exits. Such a node never joined, so it is started again; a cluster
    short of its CPUs would leave the shards unscheduled until the tests time out."""
    for _ in range(JOIN_TRIES):
        node = _ray_start("--address", address, "--num-cpus", "1")
        check = subprocess.Popen(
            [sys.executable, "-c", JOINED, address, str(cpus)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=RAY_ENV,
        )  # fmt: skip
        deadline = time.monotonic() + CLUSTER_START_S
        while check.poll() is None and node.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        check.kill()
        check.wait()
        if check.returncode == 0 and node.poll() is None:
            return node
        _stop(node)
    raise RuntimeError(f"a Ray worker node did not join in {JOIN_TRIES} tries")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A head node without CPUs and two worker nodes of one CPU each, in a temp folder."""
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths are limited
    port = _free_port()
    address = f"127.0.0.1:{port}"
    procs = []
    try:
        head = _ray_start(
            "--head", "--num-cpus", "0", "--port", str(port), "--temp-dir", temp,
            "--include-dashboard", "false",
        )  # fmt: skip
        procs.append(head)
        _wait_for_port(port, head)
        for cpus in (1, 2):  # one at a time: two nodes starting together raced for ports
            procs.append(_join(address, cpus))
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        subprocess.run(["rm", "-rf", temp], check=False)


def _suite(folder: Path, text: str, items: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "items.jsonl", items)
    suite = folder / "suite.yaml"
    suite.write_text(textwrap.dedent(text))
    return suite


def _ray_command(suite: Path, out: Path, address: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "evalkit.cli", "run", str(suite), "--out", str(out),
            "--cache-dir", str(out / "cache"), "--executor", "ray", "--address", address,
            "--shards", "2", "--display", "none", "--workers", "1", *extra]  # fmt: skip


def _same_numbers(a: Path, b: Path) -> None:
    assert _stable(_samples(a)) == _stable(_samples(b))
    ra = json.loads((a / "results.json").read_text())
    rb = json.loads((b / "results.json").read_text())
    assert ra["metrics"] == rb["metrics"] and ra["probes"] == rb["probes"]
    assert ra["gates"] == rb["gates"]


@needs_ray
def test_two_ray_shards_merged_equal_the_single_process_run(ray_address, tmp_path) -> None:
    suite = _suite(tmp_path, SUITE + "probes: [{pack: mmlu-global-facts, n: 5}]\n", ITEMS)
    out = tmp_path / "out"
    assert main(["run", str(suite), "--out", str(out), "--run-id", "whole", "--no-cache"]) == 0
    proc = subprocess.run(
        _ray_command(suite, out, ray_address, "--run-id", "ray"),
        capture_output=True, text=True, timeout=120, env=RAY_ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for i in (1, 2):
        shard = json.loads((out / "tiny" / f"ray.shard{i}of2" / "results.json").read_text())
        assert shard["shard"] == {"index": i, "count": 2}
    merged = out / "tiny" / "ray"
    assert json.loads((merged / "run.json").read_text())["merged_from"] == [
        str((out / "tiny" / f"ray.shard{i}of2").resolve()) for i in (1, 2)
    ]
    _same_numbers(merged, out / "tiny" / "whole")
    assert (out / "tiny" / "latest").resolve() == merged.resolve()


# slow enough to kill mid-shard: 24 requests a shard, 2 at a time, 0.2 s each
SLOW = SUITE.replace(
    'fallback: "I am not sure."', 'fallback: "I am not sure."\n      delay: 0.2'
).replace("run: {max_retries: 0}", "run: {max_retries: 0, max_connections: 2, cache: false}")
SLOW_ITEMS = [{**it, "id": f"{it['id']}-{k}"} for k in range(4) for it in ITEMS]


def _wait_for_records(journal: Path, at: int, proc: subprocess.Popen) -> int:
    deadline = time.monotonic() + 60
    while not journal.exists() or sum(1 for _ in read_records(journal)) < at:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the shard made no progress"
        time.sleep(0.05)
    return sum(1 for _ in read_records(journal))


@needs_ray
def test_a_killed_workers_shard_resumes_from_its_journal(ray_address, tmp_path) -> None:
    suite = _suite(tmp_path, SLOW, SLOW_ITEMS)
    out = tmp_path / "out"
    shard = out / "tiny" / "ray.shard1of2"
    total = 2 * len(SLOW_ITEMS) // 2  # both arms, every other item
    proc = subprocess.Popen(
        _ray_command(suite, out, ray_address, "--run-id", "ray"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=RAY_ENV,
    )  # fmt: skip
    try:
        answered = _wait_for_records(shard / "journal.jsonl", 6, proc)
        worker = json.loads((shard / "run.json").read_text())["pid"]
        os.kill(worker, signal.SIGKILL)  # the Ray worker process running shard 1/2
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert answered < total, "the shard had finished before its worker was killed"
    manifest = json.loads((shard / "run.json").read_text())
    assert manifest["state"] == "complete" and manifest["pid"] != worker  # Ray's retry ran it
    # resumed: every request is in the journal once; a restart would have sent the first
    # `answered` requests again, each adding a record
    records = list(read_records(shard / "journal.jsonl"))
    assert len(records) == total == len({(r.task, r.item) for r in records})
    assert main(["run", str(suite), "--out", str(out), "--run-id", "whole"]) == 0
    _same_numbers(out / "tiny" / "ray", out / "tiny" / "whole")


def _run(*args: str) -> int:
    return main(["run", *args])


@pytest.mark.parametrize(
    ("flags", "where"),
    [
        (["--executor", "ray", "--shard", "1/2"], "--shard: "),
        (["--executor", "ray", "--shards", "0"], "--shards: "),
        (["--executor", "ray", "--shards", "two"], "--shards: "),
        (["--address", "127.0.0.1:6379"], "--address: "),
        (["--shards", "2"], "--shards: "),
        (["--executor", "ray", "--resume"], "--resume: "),
    ],
)
def test_flags_that_do_not_go_together_are_located_usage_errors(
    make_suite, tmp_path, capsys, flags, where
) -> None:
    assert _run(str(make_suite()), "--out", str(tmp_path / "out"), *flags) == 2
    err = capsys.readouterr().err
    assert where in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_without_ray_the_ray_executor_is_one_line_naming_the_extra(
    make_suite, tmp_path, capsys, monkeypatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert _run(str(make_suite()), "--out", str(tmp_path / "out"), "--executor", "ray") == 4
    err = capsys.readouterr().err
    assert "pip install 'evalkit[ray]'" in err and err.count("\n") == 1
