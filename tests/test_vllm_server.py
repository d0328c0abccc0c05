"""An arm served by a server evalkit starts (`server: {engine: vllm, ...}`): its lifecycle,
its configuration errors, and what it answers.

The lifecycle tests run `tests/fake_server.py` (vLLM's command line, no model) in place of
`vllm serve`, through the suite's `server.command`; the agreement test runs the vLLM test
double (`evalkit.testing.vllm_double`, the `local/` engine behind vLLM's HTTP API).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from evalkit.cli import main
from evalkit.run.plan import ServerSpec
from evalkit.run.servers import ServerPool
from tests.conftest import ITEMS, REPO, write_jsonl
from tests.test_runs import ctrl_c_reaches_it

FAKE = Path(__file__).with_name("fake_server.py")


def _write_suite(tmp_path: Path, candidate: dict, **more: object) -> Path:
    """A scripted baseline and `candidate` on the tiny items; `more`: other top-level keys."""
    write_jsonl(tmp_path / "items.jsonl", ITEMS[:2])
    suite = {
        "name": "served",
        "task": {"type": "classification", "labels": ["card_arrival", "exchange_rate"],
                 "output": {"format": "json", "field": "intent"}},
        "arms": {
            "baseline": {"model": "evalkit-test/base", "prompt": {"text": "Q: {{ input }}"}},
            "candidate": {"prompt": {"text": "Q: {{ input }}"}, **candidate},
        },
        "datasets": {"heldout": {"path": "items.jsonl", "id": "id"}},
        "stats": {"bootstrap": 100},
        "run": {"max_retries": 0, "timeout": 20},
        **more,
    }  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(json.dumps(suite), encoding="utf-8")  # JSON is YAML
    return path


def _suite(tmp_path: Path, server: dict, **candidate: object) -> Path:
    """A scripted baseline and a candidate answered by `server`, on the tiny items."""
    return _write_suite(tmp_path, {"server": server, **candidate})


def _fake(*flags: str, **keys: object) -> dict:
    return {"engine": "vllm", "model": "org/base", "command": [sys.executable, str(FAKE)],
            "args": list(flags), "shutdown_timeout_s": 2, **keys}  # fmt: skip


def _run(suite: Path, out: Path) -> int:
    return main(["run", str(suite), "--out", str(out), "--run-id", "r", "--no-cache"])


def _pids(log: Path) -> list[int]:
    """Every pid the server's log names: evalkit's own line and the fake's `pid`/`child`."""
    text = log.read_text(encoding="utf-8")
    return [int(n) for n in re.findall(r"^(?:evalkit: server pid|pid|child) (\d+)$", text, re.M)]


def _gone(pid: int) -> bool:
    """No such process (a zombie nobody has reaped yet counts as gone: it runs nothing)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status


def _log(out: Path) -> Path:
    return out / "served" / "r" / "server-candidate.log"


def test_a_failed_run_stops_its_server(tmp_path: Path, capsys) -> None:
    """The server is healthy, every candidate request fails (HTTP 500): exit 3, server gone."""
    out = tmp_path / "out"
    assert _run(_suite(tmp_path, _fake()), out) == 3
    assert "candidate" in capsys.readouterr().err
    log = _log(out).read_text(encoding="utf-8")
    # vLLM's command line, with the port evalkit chose
    assert re.search(r"fake_server.py org/base --host 127.0.0.1 --port \d+\n", log)
    pids = _pids(_log(out))
    assert len(pids) == 2 and pids[0] == pids[1]
    assert _gone(pids[0])


def test_a_startup_timeout_is_located_and_leaves_no_process(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    suite = _suite(tmp_path, _fake("--fake-never-healthy", startup_timeout_s=1.5))
    started = time.monotonic()
    assert _run(suite, out) == 3
    err = capsys.readouterr().err
    assert "[arms.candidate.server].startup_timeout_s" in err and "/health" in err
    assert str(suite) in err
    assert time.monotonic() - started < 20
    assert all(_gone(pid) for pid in _pids(_log(out)))


def test_a_server_that_exits_at_start_is_reported_with_its_log(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    assert _run(_suite(tmp_path, _fake("--fake-exit", "4")), out) == 3
    err = capsys.readouterr().err
    assert "[arms.candidate.server]" in err and "exited with code 4" in err
    assert "server-candidate.log" in err


def test_sigkill_after_the_grace_period_takes_the_whole_group(tmp_path: Path) -> None:
    """A server and its child both ignore SIGTERM: SIGKILL to the group stops both."""
    out = tmp_path / "out"
    fake = _fake("--fake-never-healthy", "--fake-ignore-term", "--fake-child",
                 startup_timeout_s=1.5, shutdown_timeout_s=1)  # fmt: skip
    assert _run(_suite(tmp_path, fake), out) == 3
    pids = _pids(_log(out))
    assert len(set(pids)) == 2  # the server and its child
    assert all(_gone(pid) for pid in pids)


@pytest.mark.parametrize("user", ["candidate", "judge"])
def test_ctrl_c_while_waiting_for_the_server_stops_it(tmp_path: Path, user: str) -> None:
    out = tmp_path / "out"
    never = _fake("--fake-never-healthy", startup_timeout_s=120)
    suite = _suite(tmp_path, never) if user == "candidate" else _judged(tmp_path, never)
    log = out / "served" / "r" / f"server-{user}.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "evalkit.cli", "run", str(suite), "--out", str(out),
         "--run-id", "r", "--no-cache"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=ctrl_c_reaches_it,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not (log.exists() and re.search(r"^pid \d+$", log.read_text(), re.M)):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "resume" in err
    assert _pids(log) and all(_gone(pid) for pid in _pids(log))


def test_two_adapters_under_one_name_on_one_server_are_refused(tmp_path: Path, capsys) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "adapter_config.json").write_text("{}", encoding="utf-8")
    suite = _suite(tmp_path, _fake(adapter={"name": "lora", "path": "b"}))
    text = suite.read_text(encoding="utf-8")
    data = json.loads(text)
    data["arms"]["baseline"] = {
        "server": _fake(adapter={"name": "lora", "path": "a"}),
        "prompt": {"text": "{{ input }}"},
    }
    suite.write_text(json.dumps(data), encoding="utf-8")
    assert _run(suite, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert "[arms.candidate.server.adapter.name]" in err and "'lora'" in err


def test_a_missing_server_program_is_located_before_any_call(tmp_path: Path, capsys) -> None:
    suite = _suite(tmp_path, _fake(command=["no-such-vllm-program", "serve"]))
    assert _run(suite, tmp_path / "out") == 2
    err = capsys.readouterr().err
    assert f"{suite} [arms.candidate.server.command]" in err and "no-such-vllm-program" in err


@pytest.mark.parametrize(
    ("server", "candidate", "where", "says"),
    [
        (_fake(engine="sglang"), {}, "arms.candidate.server.engine", "vllm"),
        (_fake(), {"base_url": "http://127.0.0.1:9/v1"}, "arms.candidate", "not both"),
        (_fake(), {"model": "openai-api/vllm/other"}, "arms.candidate", "openai-api/vllm/org/base"),
        (_fake("--port", "8000"), {}, "arms.candidate.server.args", "server.port"),
        (_fake("--lora-modules", "a=b"), {}, "arms.candidate.server.args", "server.adapter"),
        (_fake(adapter={"name": "lora", "path": "missing"}), {},
         "arms.candidate.server.adapter.path", "missing"),
        (_fake(adapter={"name": "lora", "path": "."}), {},
         "arms.candidate.server.adapter.path", "adapter_config.json"),
        (_fake(adapter={"name": "a b", "path": "."}), {}, "arms.candidate",
         "server.adapter.name 'a b': use letters"),
        (_fake(port=0), {}, "arms.candidate.server.port", "greater than or equal to 1"),
        (_fake(startup_timeout_s=0), {}, "arms.candidate.server.startup_timeout_s", "greater"),
        (_fake(), {"adapter": "x"}, "arms.candidate", "server.adapter"),
    ],
)  # fmt: skip
def test_a_misconfigured_server_is_a_located_error(
    tmp_path: Path, capsys, server: dict, candidate: dict, where: str, says: str
) -> None:
    suite = _suite(tmp_path, server, **candidate)
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert where in err and says in err, err


# ---- api: completions, and a judge served the same way ---------------------------------------

REPLY = '{"intent": "card_arrival"}'
JUDGE_REPLY = '{"scores": {"clear": {"score": 4, "reason": "plain"}}}'
RUBRIC = """\
name: clear
description: Is the answer clear?
criteria:
  - {name: clear, description: Is it clear?, anchors: {1: Unclear., 5: Clear.}}
pass_threshold: 3
"""


def _requests(log: Path) -> list[tuple[str, dict]]:
    """What the fake server was sent: (path, body) per request, from its `request` lines."""
    lines = re.findall(r"^request (\S+) (.*)$", log.read_text(encoding="utf-8"), re.M)
    return [(path, json.loads(body)) for path, body in lines]


def _identity(run: Path, arm: str) -> str:
    return json.loads((run / "results.json").read_text())["arms"][arm]["identity"]


@pytest.mark.parametrize("client", ["native", "inspect"])
def test_api_completions_sends_the_rendered_prompt_as_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    """`api: completions`: each item's rendered prompt goes to /v1/completions as `prompt`,
    with the arm's settings (evalkit's client, or inspect's openai-api-completions provider);
    the answer is the choice's text; the identity holds the choice."""
    monkeypatch.setenv("VLLM_API_KEY", "not-checked")  # inspect's provider wants one set
    runs = {}
    for api in ("chat", "completions"):
        folder = tmp_path / api
        folder.mkdir()
        suite = _write_suite(
            folder,
            {"server": _fake("--fake-reply", REPLY), "api": api,
             "generate": {"max_tokens": 7, "stop": ["}"]}},
            run={"max_retries": 0, "timeout": 20, "client": client},
        )  # fmt: skip
        assert _run(suite, folder / "out") == 0
        runs[api] = folder / "out" / "served" / "r"
    sent = _requests(runs["completions"] / "server-candidate.log")
    assert sorted(body["prompt"] for _, body in sent) == sorted(f"Q: {it['input']}" for it in ITEMS[:2])  # fmt: skip
    for path, body in sent:
        assert path == "/v1/completions" and "messages" not in body
        assert (body["model"], body["max_tokens"], body["stop"], body["temperature"]) == (
            "org/base", 7, ["}"], 0.0)  # fmt: skip
    assert {path for path, _ in _requests(runs["chat"] / "server-candidate.log")} == {
        "/v1/chat/completions"}  # fmt: skip
    outputs = [r["output"] for k, r in _samples(runs["completions"]).items() if k[0] == "candidate"]
    assert outputs == [REPLY, REPLY]
    assert _identity(runs["chat"], "candidate") != _identity(runs["completions"], "candidate")
    assert _identity(runs["chat"], "baseline") == _identity(runs["completions"], "baseline")


def _judged(tmp_path: Path, server: dict, baseline: dict | None = None, **judge: object) -> Path:
    """Two scripted arms (or `baseline`) graded by a rubric judge answered by `server`."""
    (tmp_path / "clear.yaml").write_text(RUBRIC, encoding="utf-8")
    path = _write_suite(
        tmp_path,
        {"model": "evalkit-test/cand"},
        scorers={"rubrics": [{"rubric": "clear.yaml", "pairwise": False}]},
        judge={"server": server, "max_tokens": 32, **judge},
    )
    if baseline is not None:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["arms"]["baseline"] = {**baseline, "prompt": {"text": "Q: {{ input }}"}}
        path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _judgments(run: Path) -> list[dict]:
    return [r["judge"]["clear"] for r in _samples(run).values() if r.get("judge")]


def test_a_judge_served_by_its_own_server_is_started_and_stopped(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert _run(_judged(tmp_path, _fake("--fake-reply", JUDGE_REPLY)), out) == 0
    run = out / "served" / "r"
    assert [p.name for p in run.glob("server-*.log")] == ["server-judge.log"]
    sent = _requests(run / "server-judge.log")
    assert len(sent) == 4 and {p for p, _ in sent} == {"/v1/chat/completions"}  # 2 arms × 2
    assert all(b["model"] == "org/base" and b["max_tokens"] == 32 for _, b in sent)
    judgments = _judgments(run)
    assert len(judgments) == 4 and all(j["scores"] == {"clear": 4} for j in judgments)
    pids = _pids(run / "server-judge.log")
    assert pids and all(_gone(pid) for pid in pids)


def test_a_judge_and_an_arm_asking_for_one_server_share_its_process(tmp_path: Path) -> None:
    """The judge's adapter is loaded by the baseline's server, started once, for both."""
    (tmp_path / "grader").mkdir()
    (tmp_path / "grader" / "adapter_config.json").write_text("{}", encoding="utf-8")
    # one reply both parse: the baseline's label and the judge's scores
    both = _fake("--fake-reply", '{"intent": "card_arrival", ' + JUDGE_REPLY[1:])
    grader = {**both, "adapter": {"name": "grader", "path": "grader"}}
    out = tmp_path / "out"
    assert _run(_judged(tmp_path, grader, baseline={"server": both}), out) == 0
    run = out / "served" / "r"
    assert [p.name for p in run.glob("server-*.log")] == ["server-baseline+judge.log"]
    log = run / "server-baseline+judge.log"
    assert log.read_text().count("evalkit: server pid") == 1
    assert (
        f"--enable-lora --lora-modules grader={(tmp_path / 'grader').resolve()}" in log.read_text()
    )
    models = [body["model"] for _, body in _requests(log)]
    assert models.count("org/base") == 2 and models.count("grader") == 4
    assert len(_judgments(run)) == 4
    assert all(_gone(pid) for pid in _pids(log))


def test_a_judge_server_that_times_out_is_located_and_leaves_no_process(
    tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    suite = _judged(tmp_path, _fake("--fake-never-healthy", startup_timeout_s=1.5))
    assert _run(suite, out) == 3
    err = capsys.readouterr().err
    assert f"{suite} [judge.server].startup_timeout_s" in err
    pids = _pids(out / "served" / "r" / "server-judge.log")
    assert pids and all(_gone(pid) for pid in pids)


def test_the_judge_pass_stops_the_arms_other_servers_first(tmp_path: Path) -> None:
    """One GPU holds one vLLM: the arms' servers are stopped before the judge's starts."""
    arm = ServerSpec("vllm", "org/base", None, ("--fake-reply", "x"), None, 20.0, 2.0,
                     (sys.executable, str(FAKE)), "arms.candidate.server")  # fmt: skip
    judge = replace(arm, model="org/judge", where="judge.server")
    with ServerPool([arm, judge], log_dir=tmp_path) as pool:
        pool.url(arm)
        (arm_pid,) = set(_pids(tmp_path / "server-candidate.log"))
        pool.stop_others(judge)
        assert _gone(arm_pid)
        pool.url(judge)
        pool.stop_others(judge)  # the judge's own server stays
        (judge_pid,) = set(_pids(tmp_path / "server-judge.log"))
        assert not _gone(judge_pid)
    assert _gone(judge_pid)


@pytest.mark.parametrize(
    ("candidate", "judge", "where", "says"),
    [
        ({"model": "local/smollm2-135m-instruct", "api": "completions"}, None,
         "arms.candidate.api", "local/ has none"),
        ({"model": "anthropic/claude-sonnet-4-5", "api": "completions"}, None,
         "arms.candidate.api", "anthropic/ has none"),
        ({"model": "openai-api/x/m", "api": "raw"}, None, "arms.candidate.api", "'completions'"),
        ({"server": _fake(), "api": "completions", "prompt": {"text": "Q", "system": "Be"}},
         None, "arms.candidate", "drop the prompt's system message"),
        ({"model": "evalkit-test/c"}, {"server": _fake(), "base_url": "http://127.0.0.1:9/v1"},
         "judge", "not both"),
        ({"model": "evalkit-test/c"}, {"server": _fake(), "model": "openai-api/vllm/other"},
         "judge", "openai-api/vllm/org/base"),
        ({"model": "evalkit-test/c"}, {"server": _fake("--port", "1")}, "judge.server.args",
         "server.port"),
        ({"model": "evalkit-test/c"},
         {"server": _fake(adapter={"name": "j", "path": "missing"})},
         "judge.server.adapter.path", "missing"),
    ],
)  # fmt: skip
def test_api_and_judge_server_mistakes_are_located_errors(
    tmp_path: Path, capsys, candidate: dict, judge: dict | None, where: str, says: str
) -> None:
    suite = _write_suite(tmp_path, candidate, **({"judge": judge} if judge else {}))
    assert main(["validate", str(suite)]) == 2
    err = capsys.readouterr().err
    assert f"[{where}]" in err and says in err, err


def test_completions_arms_and_a_judge_server_with_an_adapter_validate(tmp_path: Path) -> None:
    (tmp_path / "grader").mkdir()
    (tmp_path / "grader" / "adapter_config.json").write_text("{}", encoding="utf-8")
    judge = {"server": _fake(adapter={"name": "grader", "path": "grader"})}
    for candidate in (
        {"server": _fake(), "api": "completions"},
        {"model": "openai-api/vllm/m", "base_url": "http://127.0.0.1:9/v1", "api": "completions"},
    ):
        assert main(["validate", str(_write_suite(tmp_path, candidate, judge=judge))]) == 0


# ---- the test double answers as the in-process provider does -------------------------------

BANKING = REPO / "suites" / "banking77"
LOGLIK_TOLERANCE = 1e-4


PROMPT = BANKING / "prompts" / "candidate_short.jinja"
DOUBLE = {"engine": "vllm", "model": "smollm2-135m-instruct", "startup_timeout_s": 300,
          "command": [sys.executable, "-m", "evalkit.testing.vllm_double"]}  # fmt: skip


def _demo_suite(folder: Path, baseline: dict, candidate: dict, probes: bool = True) -> Path:
    """Four banking77 held-out items and three HellaSwag items (scored by log-likelihood);
    an arm's own `prompt` replaces the demo's."""
    folder.mkdir()
    same = {"prompt": {"template": str(PROMPT)}, "generate": {"max_tokens": 16}}
    suite = {
        "name": "demo",
        "task": {"type": "classification", "labels": str(BANKING / "data" / "labels.txt"),
                 "output": {"format": "json", "field": "intent"}},
        "arms": {"baseline": {**same, **baseline}, "candidate": {**same, **candidate}},
        "datasets": {"heldout": {"path": str(BANKING / "data" / "heldout.jsonl"), "id": "id",
                                 "limit": 4}},
        "probes": [{"pack": "hellaswag", "n": 3, "seed": 0}] if probes else [],
        "stats": {"bootstrap": 100},
        "run": {"max_retries": 0, "timeout": 300},
        "allow_outside_paths": True,
    }  # fmt: skip
    path = folder / "suite.yaml"
    path.write_text(json.dumps(suite), encoding="utf-8")
    return path


def _samples(run: Path) -> dict[tuple[str, str, str], dict]:
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    return {(r["arm"], r["dataset"], r["id"]): r for r in rows}


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo suite's run with the model and adapter in-process (`local/`): what the
    double must answer too."""
    pytest.importorskip("torch", reason="the 'local' extra is not installed")
    folder = tmp_path_factory.mktemp("local-demo")
    in_process = _demo_suite(
        folder / "suite",
        {"model": "local/smollm2-135m-instruct"},
        {"model": "local/smollm2-135m-instruct", "adapter": str(BANKING / "adapter")},
    )
    assert _run(in_process, folder / "out") == 0
    return folder / "out" / "demo" / "r"


def _served_arms(**arm: object) -> tuple[dict, dict]:
    """The demo's two arms, served by one double: the base model and the adapter by name."""
    adapter = {"name": "banking77", "path": str(BANKING / "adapter")}
    return {"server": DOUBLE, **arm}, {"server": {**DOUBLE, "adapter": adapter}, **arm}


@pytest.mark.slow
def test_the_vllm_double_answers_as_local_does(tmp_path: Path, local_demo: Path) -> None:
    """The same model and adapter, in-process (`local/`) and behind the vLLM test double that
    evalkit starts: the same greedy answers, log-likelihoods within 1e-4, the same adapter
    identity; one server process serves both arms (the base model and the adapter by name)."""
    adapter = str(BANKING / "adapter")
    served = _demo_suite(tmp_path / "served", *_served_arms())
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["run", str(served), "--out", str(tmp_path / "out-served"), "--run-id", "r",
                 *cache]) == 0  # fmt: skip
    # a re-run on the cache starts no server: the identity does not hold the port it got
    assert main(["run", str(served), "--out", str(tmp_path / "out-served"), "--run-id", "again",
                 *cache]) == 0  # fmt: skip
    again = _samples(tmp_path / "out-served/demo/again")
    assert not list((tmp_path / "out-served/demo/again").glob("server-*.log"))
    assert all(row["cached"] for row in again.values())
    local_run, served_run = local_demo, tmp_path / "out-served/demo/r"
    assert [p.name for p in served_run.glob("server-*.log")] == ["server-baseline+candidate.log"]
    log = (served_run / "server-baseline+candidate.log").read_text(encoding="utf-8")
    assert f"--enable-lora --lora-modules banking77={adapter}" in log
    assert all(_gone(pid) for pid in _pids(served_run / "server-baseline+candidate.log"))
    expected, found = _samples(local_run), _samples(served_run)
    assert {k: r["output"] for k, r in again.items()} == {k: r["output"] for k, r in found.items()}
    assert expected.keys() == found.keys() and len(expected) == 2 * (4 + 3)
    for key, row in expected.items():
        assert found[key]["error"] is None, key
        if key[1] == "hellaswag":
            assert found[key]["choice_logliks"] == pytest.approx(
                row["choice_logliks"], abs=LOGLIK_TOLERANCE
            ), key
        else:
            assert found[key]["output"] == row["output"], key
    assert (
        expected[("baseline", "heldout", "b77-test-219")]["output"]
        != expected[("candidate", "heldout", "b77-test-219")]["output"]
    )  # fmt: skip  (the adapter counts)
    arms = {
        name: json.loads((run / "results.json").read_text())["arms"]
        for name, run in (("local", local_run), ("served", served_run))
    }
    assert arms["served"]["candidate"]["adapter_sha256"] == arms["local"]["candidate"][
        "adapter_sha256"] is not None  # fmt: skip


@pytest.mark.slow
def test_greedy_answers_through_completions_are_local_ones(
    tmp_path: Path, local_demo: Path
) -> None:
    """`api: completions` with a template that writes out SmolLM2's chat format itself (as one
    would for a base model): the double receives the very text `local/` builds with the chat
    template, encodes it as vLLM does, and every greedy answer is `local/`'s."""
    from transformers import AutoTokenizer

    from evalkit.models import fetch

    tokenizer = AutoTokenizer.from_pretrained(fetch.ensure_model("smollm2-135m-instruct"))
    marker = "\x00prompt\x00"
    chat = tokenizer.apply_chat_template(
        [{"role": "user", "content": marker}], add_generation_prompt=True, tokenize=False
    )
    before, after = chat.split(marker)
    # jinja drops a template's one trailing newline: the user message loses it, the chat
    # format's own (after "assistant") is kept by an expression after it
    user = PROMPT.read_text(encoding="utf-8").removesuffix("\n")
    plain = {"text": before + user + after + "{{ '' }}"}
    served = _demo_suite(tmp_path / "served", *_served_arms(api="completions", prompt=plain),
                         probes=False)  # fmt: skip
    assert _run(served, tmp_path / "out") == 0
    run = tmp_path / "out" / "demo" / "r"
    expected, found = _samples(local_demo), _samples(run)
    assert {k for k in expected if k[1] == "heldout"} == found.keys() and len(found) == 8
    for key, row in found.items():
        assert row["error"] is None and row["output"] == expected[key]["output"], key
    log = run / "server-baseline+candidate.log"
    assert all(_gone(pid) for pid in _pids(log))


def _post(url: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


@pytest.mark.slow
def test_the_vllm_double_speaks_vllms_api(tmp_path: Path) -> None:
    """What lm-eval's local-completions and evalkit read from vLLM: /v1/models lists the base
    and the adapter by name; echoed prompt tokens with their log-probabilities and offsets
    (max_tokens 0: the prompt only; 1: one more token); 404 for a model it does not serve."""
    pytest.importorskip("torch", reason="the 'local' extra is not installed")
    spec = ServerSpec(
        engine="vllm", model="smollm2-135m-instruct", adapter=("b77", str(BANKING / "adapter")),
        args=(), port=None, startup_timeout_s=300, shutdown_timeout_s=10,
        command=(sys.executable, "-m", "evalkit.testing.vllm_double"),
        where="arms.candidate.server",
    )  # fmt: skip
    with ServerPool([spec], log_dir=tmp_path) as pool:
        url = pool.url(spec)
        with urllib.request.urlopen(url + "/models", timeout=10) as response:
            models = {m["id"]: m for m in json.load(response)["data"]}
        prompt = "The capital of France is Paris"
        echoed = {}
        for max_tokens in (0, 1):
            status, body = _post(url + "/completions", {"model": "b77", "prompt": [prompt],
                                 "echo": True, "logprobs": 1, "max_tokens": max_tokens})  # fmt: skip
            assert status == 200, body
            echoed[max_tokens] = body["choices"][0]
        missing = _post(url + "/chat/completions", {"model": "nope", "messages": []})
        ask = {"model": "b77", "prompt": [prompt, "Paris is"], "max_tokens": 5, "temperature": 0}
        generated = _post(url + "/completions", ask)
        # the first prompt is a whole sentence: its answer may end at once (eos)
        cut = generated[1]["choices"][1]
        stop = cut["text"][2:4]  # stopped where this text occurs in the same greedy answer
        stopped = _post(url + "/completions", {**ask, "prompt": "Paris is", "stop": [stop]})
    assert models.keys() == {"smollm2-135m-instruct", "b77"}
    assert models["b77"]["parent"] == "smollm2-135m-instruct"
    lp = echoed[0]["logprobs"]
    assert "".join(lp["tokens"]) == prompt == echoed[0]["text"]
    assert lp["text_offset"] == [prompt.index(t, o) for t, o in zip(lp["tokens"], lp["text_offset"], strict=True)]  # fmt: skip
    assert lp["token_logprobs"][0] is None and all(v < 0 for v in lp["token_logprobs"][1:])
    more = echoed[1]["logprobs"]
    assert (
        more["tokens"][:-1] == lp["tokens"] and more["token_logprobs"][:-1] == lp["token_logprobs"]
    )
    assert (
        more["text_offset"][-1] == len(prompt) and echoed[1]["text"] == prompt + more["tokens"][-1]
    )
    assert missing[0] == 404 and "nope" in missing[1]["error"]["message"]
    assert generated[0] == 200 and [c["index"] for c in generated[1]["choices"]] == [0, 1]
    assert cut["finish_reason"] == "length" and len(stop) == 2  # max_tokens: 5 tokens
    assert 5 <= generated[1]["usage"]["completion_tokens"] <= 10
    assert stopped[1]["choices"][0]["text"] == cut["text"][: cut["text"].index(stop)]
    assert stopped[1]["choices"][0]["finish_reason"] == "stop"
    assert all(_gone(pid) for pid in _pids(tmp_path / "server-candidate.log"))
