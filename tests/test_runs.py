"""Whole runs against a loopback OpenAI-compatible endpoint in its own process: faults, Ctrl-C,
kill -9 and resume, worker processes, shards and merge."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from evalkit.cli import main
from tests.conftest import ITEMS, SUITE, write_jsonl
from tests.loopback import loopback_endpoint

SCRIPT = {"answers": {"exchange": '{"intent": "exchange_rate"}'},
          "fallback": '{"intent": "card_arrival"}'}  # fmt: skip

API_SUITE = """
name: api
task:
  type: classification
  labels: [card_arrival, exchange_rate]
  output: {{format: json, field: intent}}
arms:
  baseline:
    model: openai-api/stub/base
    base_url: {url}
    prompt: {{text: "Labels: {{{{ labels | join(', ') }}}}. Query: {{{{ input }}}}"}}
  candidate:
    model: "openai/ft:gpt-4o-mini:acme::a1b2"
    base_url: {url}
    prompt: {{text: "Q: {{{{ input }}}}"}}
datasets:
  heldout: {{path: items.jsonl}}
run: {{max_connections: {connections}, max_retries: 10, timeout: {timeout}, cache: false}}
"""
# what does not depend on timing: everything but latency, attempts and the cache flag
STABLE = ["arm", "dataset", "id", "input", "target", "output", "error", "label", "parsed",
          "correct", "format_ok", "input_tokens", "output_tokens"]  # fmt: skip


@pytest.fixture(autouse=True)
def _keys(monkeypatch) -> None:
    monkeypatch.setenv("STUB_API_KEY", "stub-key")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")


def _items(n: int) -> list[dict]:
    return [
        {"input": f"what exchange rate applies {i}" if i % 3 else f"where is my card {i}",
         "target": "exchange_rate" if i % 3 else "card_arrival"}
        for i in range(n)
    ]  # fmt: skip


def _api_suite(folder: Path, url: str, n: int, connections: int = 16, timeout: float = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jsonl(folder / "items.jsonl", _items(n))
    path = folder / "suite.yaml"
    path.write_text(API_SUITE.format(url=url, connections=connections, timeout=timeout))
    return path


def _samples(run_dir: Path) -> pd.DataFrame:
    return pd.read_json(run_dir / "samples.jsonl", lines=True)


def _stable(rows: pd.DataFrame) -> list[dict]:
    """The columns that do not depend on timing, as plain values (missing → None)."""
    return rows[STABLE].astype(object).where(rows[STABLE].notna(), None).to_dict("records")


def _run(suite: Path, out: Path, *extra: str) -> int:
    return main(["run", str(suite), "--out", str(out), "--cache-dir", str(out / "cache"), *extra])


def test_faults_are_retried_and_answers_equal_the_fault_free_run(tmp_path) -> None:
    n = 150
    with loopback_endpoint("--latency", "0", **SCRIPT) as clean:
        suite = _api_suite(tmp_path / "clean", clean.url, n)
        assert _run(suite, tmp_path / "clean-out", "--run-id", "r", "--workers", "1") == 0
        reference = _samples(tmp_path / "clean-out" / "api" / "r")
    faults = ["--latency", "0.01", "--rate-429", "0.2", "--retry-after", "0.2",
              "--rate-500", "0.05", "--rate-hang", "0.05", "--hang-s", "60",
              "--rate-truncated", "0.03", "--seed", "7"]  # fmt: skip
    with loopback_endpoint(*faults, **SCRIPT) as faulty:
        suite = _api_suite(tmp_path / "faulty", faulty.url, n, timeout=2)
        started = time.monotonic()
        code = _run(suite, tmp_path / "faulty-out", "--run-id", "r", "--workers", "1")
        elapsed = time.monotonic() - started
        stats = faulty.stats()
    # every kind of fault really happened, so the run below was tested against each
    assert all(stats.get(k, 0) > 0 for k in ("rate_limit", "server_error", "hang", "truncated"))
    assert elapsed < 60, "a hung connection held the run for its whole hang"
    got = _samples(tmp_path / "faulty-out" / "api" / "r")
    assert len(got) == 2 * n  # nothing dropped
    assert got["error"].notna().sum() <= 1 and code in (0, 1)
    answered = got["error"].isna()
    assert _stable(got[answered]) == _stable(reference[answered])
    assert got["attempts"].max() > 1


def _journal_lines(run_dir: Path) -> int:
    return sum(p.read_text().count("\n") for p in run_dir.glob("journal*.jsonl") if p.exists())


def _start(suite: Path, out: Path, run_id: str) -> subprocess.Popen:
    env = {**os.environ, "STUB_API_KEY": "stub-key", "OPENAI_API_KEY": "sk-test-not-a-real-key"}
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit.cli", "run", str(suite), "--out", str(out),
         "--cache-dir", str(out / "cache"), "--run-id", run_id, "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=ctrl_c_reaches_it,
    )  # fmt: skip


def ctrl_c_reaches_it() -> None:
    """In the child: a SIGINT that the test runner ignores (a shell's background job ignores
    it, and exec passes that on) is the default again, as at a terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop_halfway(proc: subprocess.Popen, run_dir: Path, at: int, sig: int) -> None:
    deadline = time.monotonic() + 60
    while _journal_lines(run_dir) < at:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run made no progress"
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=30)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "kill-9"]
)
def test_a_stopped_run_resumes_sending_only_what_has_no_answer(tmp_path, sig) -> None:
    n, connections = 40, 4
    with loopback_endpoint("--latency", "0.1", **SCRIPT) as ep:
        suite = _api_suite(tmp_path / "s", ep.url, n, connections=connections, timeout=10)
        out = tmp_path / "out"
        run_dir = out / "api" / "r1"
        proc = _start(suite, out, "r1")
        _stop_halfway(proc, run_dir, n, sig)
        manifest = json.loads((run_dir / "run.json").read_text())
        if sig != signal.SIGKILL:
            assert proc.returncode == 130
            stderr = proc.stderr.read() if proc.stderr else ""
            assert "interrupted; resume with: evalkit run" in stderr and "--resume" in stderr
            # one line, no asyncio noise: the progress line and the resume line only
            assert "Traceback" not in stderr and "Task was destroyed" not in stderr, stderr
            others = [ln for ln in stderr.strip().splitlines() if not ln.startswith("progress ")]
            assert len(others) == 1 and others[0].startswith("interrupted; resume with:"), stderr
            assert manifest["state"] == "interrupted"
        else:
            assert manifest["state"] == "running"  # nobody could mark it: the pid is gone
        assert not (run_dir / "results.json").exists()
        # a partial run is never judged as if complete
        assert main(["gate", str(run_dir)]) == 2
        answered = _journal_lines(run_dir)
        assert answered < 2 * n
        ep.reset()
        assert _run(suite, out, "--resume", "--workers", "1") == 0
        sent = ep.stats().get("requests", 0)
        assert sent <= 2 * n - answered + connections
        assert json.loads((run_dir / "run.json").read_text())["state"] == "complete"
        resumed = _samples(run_dir)
        assert _run(suite, out, "--run-id", "straight", "--workers", "1") == 0
    straight = _samples(out / "api" / "straight")
    assert _stable(resumed) == _stable(straight)


def test_sigterm_before_any_command_runs_is_an_interrupt_not_a_kill() -> None:
    """SIGTERM while the command is still starting (here from main itself, before a command
    ran) exits 130 with one line, as Ctrl-C does: only a running run used to catch it, and
    earlier the process died of the signal."""
    probe = textwrap.dedent("""
        import os, signal, sys, time
        import evalkit.cli as cli
        def main(**_):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)
        cli.main = main
        sys.exit(cli.entry())
    """)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert done.returncode == 130, (done.returncode, done.stderr[-2000:])
    assert done.stderr.strip() == "interrupted"


def test_worker_processes_give_the_same_results_as_one(tmp_path) -> None:
    n = 300
    with loopback_endpoint("--latency", "0", **SCRIPT) as ep:
        suite = _api_suite(tmp_path / "s", ep.url, n)
        out = tmp_path / "out"
        assert _run(suite, out, "--run-id", "one", "--workers", "1") == 0
        assert _run(suite, out, "--run-id", "two", "--workers", "2") == 0
    assert sorted(p.name for p in (out / "api" / "two").glob("journal*.jsonl")) == [
        "journal-0.jsonl",
        "journal-1.jsonl",
    ]
    one, two = _samples(out / "api" / "one"), _samples(out / "api" / "two")
    assert _stable(one) == _stable(two)
    r1 = json.loads((out / "api" / "one" / "results.json").read_text())
    r2 = json.loads((out / "api" / "two" / "results.json").read_text())
    assert r1["metrics"] == r2["metrics"]


def test_a_run_ends_when_its_workers_do_not_at_the_next_poll(tmp_path, monkeypatch) -> None:
    """The parent wakes the moment a worker process ends: it slept POLL_S between looks (0.5 s,
    here 60 s, so a run that waits for the next look cannot pass)."""
    monkeypatch.setattr("evalkit.run.execute.POLL_S", 60.0)
    with loopback_endpoint("--latency", "0", **SCRIPT) as ep:
        suite = _api_suite(tmp_path / "s", ep.url, 40)
        started = time.monotonic()
        assert _run(suite, tmp_path / "out", "--run-id", "w", "--workers", "2") == 0
        took = time.monotonic() - started
    assert took < 45, f"{took:.1f} s"
    assert len(_samples(tmp_path / "out" / "api" / "w")) == 80


def _scripted(tmp_path: Path) -> Path:
    write_jsonl(tmp_path / "items.jsonl", ITEMS)
    suite = tmp_path / "suite.yaml"
    suite.write_text(textwrap.dedent(SUITE + "probes: [{pack: mmlu-global-facts, n: 5}]\n"))
    return suite


def test_four_shards_merged_equal_the_unsharded_run(tmp_path) -> None:
    suite, out = _scripted(tmp_path), tmp_path / "out"
    assert _run(suite, out, "--run-id", "whole") == 0
    for i in range(1, 5):
        assert _run(suite, out, "--run-id", f"part{i}", "--shard", f"{i}/4", "--no-cache") == 0
        shard = json.loads((out / "tiny" / f"part{i}" / "results.json").read_text())
        assert shard["shard"] == {"index": i, "count": 4} and shard["gates"] is None
    parts = [str(out / "tiny" / f"part{i}") for i in (3, 1, 4, 2)]
    assert main(["merge", *parts, "--out", str(out), "--run-id", "merged"]) == 0
    whole, merged = out / "tiny" / "whole", out / "tiny" / "merged"
    assert _stable(_samples(merged)) == _stable(_samples(whole))
    rw = json.loads((whole / "results.json").read_text())
    rm = json.loads((merged / "results.json").read_text())
    assert rm["metrics"] == rw["metrics"] and rm["probes"] == rw["probes"]
    assert rm["gates"] == rw["gates"]
    assert (out / "tiny" / "latest").resolve() == merged.resolve()


def test_merge_refuses_missing_repeated_or_foreign_shards(tmp_path, capsys) -> None:
    suite, out = _scripted(tmp_path), tmp_path / "out"
    for i in (1, 2):
        assert _run(suite, out, "--run-id", f"p{i}", "--shard", f"{i}/3") == 0
    assert _run(suite, out, "--run-id", "whole") == 0
    p1, p2 = str(out / "tiny" / "p1"), str(out / "tiny" / "p2")
    assert main(["merge", p1, p2, "--out", str(out)]) == 2
    assert "shard 3/3 missing" in capsys.readouterr().err
    assert main(["merge", p1, p1, "--out", str(out)]) == 2
    assert "shard 1/3 is also in" in capsys.readouterr().err
    assert main(["merge", p1, str(out / "tiny" / "whole"), "--out", str(out)]) == 2
    assert "not a shard" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    changed = _scripted(other)
    changed.write_text(changed.read_text().replace("Q: {{ input }}", "Query: {{ input }}"))
    assert _run(changed, out, "--run-id", "p3", "--shard", "3/3") == 0
    assert main(["merge", p1, p2, str(out / "tiny" / "p3"), "--out", str(out)]) == 2
    assert "different suite file" in capsys.readouterr().err


def test_a_bad_model_inside_a_provider_is_bad_input_with_its_place(
    make_suite, tmp_path, capsys
) -> None:
    tuned = SUITE[SUITE.index("  candidate:") : SUITE.index("datasets:")]
    local = '  candidate:\n    model: local/no-such-model\n    prompt: {text: "Q: {{ input }}"}\n'
    suite = make_suite(SUITE.replace(tuned, local))
    assert _run(suite, tmp_path / "out") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(suite) in err
    assert "arms.candidate.model" in err and "no-such-model" in err
    assert "[arms.candidate.model_args]" in _bad_args(make_suite, tmp_path, capsys)


def _bad_args(make_suite, tmp_path: Path, capsys) -> str:
    suite = make_suite(SUITE.replace("evalkit-test/tuned", "local/smollm2-135m-instruct"))
    assert _run(suite, tmp_path / "out2") == 2
    return capsys.readouterr().err


def test_automatic_workers_follow_the_client_cpu_the_requests_need(monkeypatch) -> None:
    """auto starts a process per few seconds of client CPU, at most one per core, and one for
    a model that runs in this process."""
    from types import SimpleNamespace

    from evalkit.run import execute

    monkeypatch.setattr(execute, "available_cores", lambda: 4)
    spec = SimpleNamespace(identity="m")
    requests = [SimpleNamespace(model=spec)] * 4000
    native = {"m": SimpleNamespace(in_process=False, cpu_ms=0.3)}
    sdk = {"m": SimpleNamespace(in_process=False, cpu_ms=5.0)}
    local = {"m": SimpleNamespace(in_process=True, cpu_ms=5.0)}
    assert execute._worker_count(requests, native, None) == 1  # 1.2 s of CPU: not worth a process
    assert execute._worker_count(requests, sdk, None) == 4  # 20 s of CPU: every core
    assert execute._worker_count(requests[:1000], sdk, None) == 2
    assert execute._worker_count(requests, native, 3) == 3  # asked for: given
    assert execute._worker_count(requests, local, 3) == 1
