"""No secret in anything a run writes: credentials are planted where users put them (API keys
in the environment, a key in a base_url, headers in model_args) and every file under the run
folder (logs included) and the response cache is searched for them, inside archives too.

The run goes through the CLI against the loopback OpenAI-compatible endpoint, so the key is
really sent; whatever engine executes the run, this test reads only what lands on disk.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import urllib.parse
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from evalkit.cli import main
from tests.conftest import ITEMS as CONFTEST_ITEMS
from tests.loopback import Loopback, loopback_endpoint

ENV_SECRETS = {
    "LOOPBACK_API_KEY": "sk-plantedloopback0123456789",  # the key openai-api/loopback sends
    "OPENAI_API_KEY": "sk-plantedopenai0123456789abcd",
    "HF_TOKEN": "hf_planted0123456789abcdefXYZ",
    "EVALKIT_DB_PASSWORD": "planted-password-4711",
}
USERINFO_SECRET = "planted-userinfo-9876"
HEADER_SECRET = "planted-header-5555"
ITEMS = CONFTEST_ITEMS[:3]
TASK_FILE = Path(__file__).parent / "fixtures" / "tiny_task.py"


def encodings(secret: str) -> set[bytes]:
    """The ways a secret can be written: as is, JSON-, URL- or base64-encoded (Basic auth)."""
    forms = {secret, json.dumps(secret)[1:-1], urllib.parse.quote(secret)}
    forms |= {base64.b64encode(f"user:{secret}".encode()).decode()}
    return {f.encode() for f in forms}


def contents(path: Path) -> Iterator[tuple[str, bytes]]:
    """A file's bytes, and those of every member of a zip (an .eval log) or a gzip file."""
    data = path.read_bytes()
    yield str(path), data
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            for name in z.namelist():
                yield f"{path}!{name}", z.read(name)
    elif data[:2] == b"\x1f\x8b":
        yield f"{path}!gunzip", gzip.decompress(data)


def leaks(folders: list[Path], secrets: list[str], *texts: str) -> list[str]:
    found = []
    files = [f for folder in folders if folder.exists() for f in folder.rglob("*") if f.is_file()]
    blobs = [blob for f in files for blob in contents(f)]
    blobs += [(f"output {i}", t.encode()) for i, t in enumerate(texts)]
    for secret in secrets:
        for where, data in blobs:
            if any(form in data for form in encodings(secret)):
                found.append(f"{secret} in {where}")
    return found


@pytest.fixture(scope="module")
def endpoint() -> Iterator[Loopback]:
    """One loopback endpoint for the module."""
    with loopback_endpoint() as ep:
        yield ep


def write_suite(folder: Path, url: str, **arm_extra: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "items.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ITEMS))
    arm = {"base_url": url, "prompt": {"text": "Query: {{ input }}"}, **arm_extra}
    suite = {
        "name": "secrets",
        "task": {
            "type": "classification",
            "labels": ["card_arrival", "exchange_rate"],
            "output": {"format": "json", "field": "intent"},
        },
        "arms": {
            "baseline": {"model": "openai-api/loopback/base-model", **arm},
            "candidate": {"model": "openai-api/loopback/tuned-model", **arm},
        },
        "datasets": {"heldout": {"path": "items.jsonl", "id": "id"}},
        "stats": {"bootstrap": 200},
        "run": {"max_retries": 0, "timeout": 30},
    }
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False), encoding="utf-8")
    return path


def run(suite: Path, folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    # --inspect-logs: the logs for `inspect view` are written too, and searched like the rest
    args = ["run", str(suite), "--out", str(folder / "reports"), "--cache-dir",
            str(folder / "cache"), "--run-id", "r1", "--inspect-logs"]  # fmt: skip
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_real_run_writes_no_environment_secret(
    endpoint: Loopback,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in ENV_SECRETS.items():
        monkeypatch.setenv(name, value)
    endpoint.reset()
    suite = write_suite(tmp_path, endpoint.url)
    code, printed = run(suite, tmp_path, capsys)
    assert code == 0, printed
    run_dir = tmp_path / "reports" / "secrets" / "r1"
    # the search is only worth something if the run wrote what it should, logs and cache too
    assert (run_dir / "results.json").is_file() and (run_dir / "index.html").is_file()
    assert any((run_dir / "logs").rglob("*")) and any((tmp_path / "cache").rglob("*"))
    assert endpoint.stats()["answered"] >= 2 * len(ITEMS)  # the planted key was really used
    found = leaks([tmp_path / "reports", tmp_path / "cache"], list(ENV_SECRETS.values()), printed)
    assert found == []


@pytest.mark.parametrize("status", [401, 400, 500])
def test_a_key_the_server_echoes_in_its_error_is_in_no_file(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    status: int,
) -> None:
    """A server whose error body repeats the Authorization header: the error text goes into
    the journal, run.json and the logs, and the key must not go with it."""
    for name, value in ENV_SECRETS.items():
        monkeypatch.setenv(name, value)
    with loopback_endpoint("--echo-auth", str(status)) as echoing:
        suite = write_suite(tmp_path, echoing.url)
        # an inspect-ai task probe too: inspect writes its own logs into the run folder
        (tmp_path / "tiny_task.py").write_text(TASK_FILE.read_text("utf-8"), encoding="utf-8")
        probe = '\nprobes: [{inspect_task: "tiny_task.py@tiny_qa", n: 2}]\n'
        suite.write_text(suite.read_text(encoding="utf-8") + probe, encoding="utf-8")
        code, printed = run(suite, tmp_path, capsys)
        assert echoing.stats()["echoed_auth"] >= 2 * len(ITEMS)  # the key was sent and echoed
    run_dir = tmp_path / "reports" / "secrets" / "r1"
    journal = (run_dir / "journal.jsonl").read_text(encoding="utf-8")
    # the error was recorded, so the search below looked where the echo lands
    assert "invalid credentials" in journal and code != 0, printed
    assert (run_dir / "run.json").is_file() and any((run_dir / "inspect").rglob("*.eval"))
    found = leaks([tmp_path / "reports", tmp_path / "cache"], list(ENV_SECRETS.values()), printed)
    assert found == [], "\n".join(found)


@pytest.mark.parametrize(
    ("where", "extra", "secret"),
    [
        ("base_url user-info", {"base_url": f"http://user:{USERINFO_SECRET}@127.0.0.1:9/v1"}, USERINFO_SECRET),
        ("base_url user only", {"base_url": f"http://{USERINFO_SECRET}@127.0.0.1:9/v1"}, USERINFO_SECRET),
        ("X-Api-Key header", {"model_args": {"default_headers": {"X-Api-Key": HEADER_SECRET}}}, HEADER_SECRET),
        ("Authorization header", {"model_args": {"default_headers": {"Authorization": f"Bearer {HEADER_SECRET}"}}}, HEADER_SECRET),
        ("a header holding a token", {"model_args": {"default_headers": {"X-Trace": "Bearer 0123456789abcdefgh"}}}, "0123456789abcdefgh"),
        ("api_key argument", {"model_args": {"api_key": HEADER_SECRET}}, HEADER_SECRET),
        ("nested in a list", {"model_args": {"extra": [{"token": HEADER_SECRET}]}}, HEADER_SECRET),
    ],
)  # fmt: skip
def test_a_suite_carrying_a_secret_is_refused_and_nothing_is_written(
    endpoint: Loopback,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    where: str,
    extra: dict[str, object],
    secret: str,
) -> None:
    suite = write_suite(tmp_path, endpoint.url, **extra)
    code, printed = run(suite, tmp_path, capsys)
    assert code == 2, printed
    assert "secret" in printed or "credentials" in printed, printed
    assert "suite.yaml" in printed and "arms.baseline" in printed
    assert leaks([tmp_path / "reports", tmp_path / "cache"], [secret], printed) == []
    assert not (tmp_path / "reports").exists()  # refused before anything is written


def test_writers_cut_an_environment_secret_out_of_model_text(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A model that echoes a key (or a URL with one) never gets it into evalkit's own files.

    (The engine's logs and cache hold model text as it came; see the test above for what
    they must never hold.)
    """
    secret = ENV_SECRETS["OPENAI_API_KEY"]
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    echo = f"my key is {secret}, see https://admin:{USERINFO_SECRET}@db.internal/x"
    script = tmp_path / "answers.json"
    script.write_text(json.dumps({"fallback": echo}), encoding="utf-8")
    suite = write_suite(tmp_path, "unused")
    text = suite.read_text(encoding="utf-8")
    text = text.replace("openai-api/loopback/base-model", "evalkit-test/echo")
    text = text.replace("openai-api/loopback/tuned-model", "evalkit-test/echo2")
    text = text.replace("base_url: unused", f"model_args: {{script: {json.dumps(str(script))}}}")
    suite.write_text(text, encoding="utf-8")
    code, printed = run(suite, tmp_path, capsys)
    assert code == 0, printed
    run_dir = tmp_path / "reports" / "secrets" / "r1"
    written = [run_dir / n for n in ("results.json", "samples.jsonl", "index.html", "summary.md",
                                     "junit.xml")]  # fmt: skip
    samples = (run_dir / "samples.jsonl").read_text(encoding="utf-8")
    assert "my key is <redacted>, see https://<redacted>@db.internal/x" in samples
    found = [
        f"{s} in {f.name}"
        for f in written
        for s in (secret, USERINFO_SECRET)
        if s in f.read_text(encoding="utf-8")
    ]
    assert found == [] and secret not in printed


def test_the_search_finds_a_secret_inside_an_archive(tmp_path: Path) -> None:
    """The checks above can fail: a key compressed inside a log, or base64'd, is found."""
    with zipfile.ZipFile(tmp_path / "run.eval", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("header.json", json.dumps({"model_args": {"key": HEADER_SECRET}}))
    (tmp_path / "auth.txt").write_bytes(base64.b64encode(f"user:{USERINFO_SECRET}".encode()))
    found = leaks([tmp_path], [HEADER_SECRET, USERINFO_SECRET])
    assert sorted(found) == [
        f"{HEADER_SECRET} in {tmp_path / 'run.eval'}!header.json",
        f"{USERINFO_SECRET} in {tmp_path / 'auth.txt'}",
    ]


def test_redact_blanks_secret_keys_at_any_depth_and_cuts_credentials_from_text() -> None:
    from evalkit.credentials import redact

    value = {
        "model_args": {
            "default_headers": {"X-Api-Key": "k", "Authorization": "Bearer t", "Accept": "json"},
            "extra": [{"access_token": 12345}],
            "use_auth": True,  # a switch, not a secret
            "max_tokens": 64,
        },
        "base_url": f"https://svc:{USERINFO_SECRET}@host/v1",
        "note": f"echoed {HEADER_SECRET} and Bearer abc123def456ghi789",
    }
    out = redact(value, secrets=[HEADER_SECRET])
    headers = out["model_args"]["default_headers"]
    assert headers == {"X-Api-Key": "<redacted>", "Authorization": "<redacted>", "Accept": "json"}
    assert out["model_args"]["extra"] == [{"access_token": "<redacted>"}]
    assert out["model_args"]["use_auth"] is True and out["model_args"]["max_tokens"] == 64
    assert out["base_url"] == "https://<redacted>@host/v1"
    assert out["note"] == "echoed <redacted> and <redacted>"


CREDENTIAL_SHAPES = [
    "Bearer abc123def456ghi789", "bearer abc123def456ghi789", "Basic dXNlcjpwYXNzd29yZA==",
    "token abcdef1234567890", "sk-abcdef1234567890", "sk-ant-api03-abcdef1234567890",
    "rk-abcdef1234567890", "pk-abcdef1234567890", "ghp_abcdef1234567890", "gho_abcdef1234567890",
    "ghs_abcdef1234567890", "ghu_abcdef1234567890", "github_pat_abcdef1234567890",
    "glpat-abcdef1234567890", "hf_abcdef1234567890", "xoxb-abcdef1234567890",
    "xoxp-abcdef1234567890", "AKIAABCDEFGHIJKLMNOP", "AIza" + "b" * 35,
    "https://user:pw@host/v1", "postgres+psycopg://u:p@db",
]  # fmt: skip


@pytest.mark.parametrize("shape", CREDENTIAL_SHAPES)
def test_every_credential_shape_is_cut_even_among_clean_strings_of_a_row(shape: str) -> None:
    """The clue test that spares the pattern must let every shape through, alone and inside a
    row whose other strings are clean (the row's strings are tested joined)."""
    from evalkit.credentials import REDACTED, redact, scrub, scrubber

    assert scrubber([]).pattern.search(shape), "the example must be a credential shape"
    assert REDACTED in scrub(f"said: {shape}.", scrubber([]))
    row = {"input": "a clean question", "output": f"echo\n{shape}", "n": 3, "id": "x-1"}
    out = redact([row, {"output": "clean"}], secrets=[])
    assert REDACTED in out[0]["output"] and shape not in out[0]["output"]
    assert out[0]["input"] == "a clean question" and out[1] == {"output": "clean"}


def test_a_list_is_cleared_by_one_test_of_its_strings_and_its_containers_are_walked() -> None:
    """The report's rows are lists: a clean one costs one clue test, and what it holds is
    still walked (a mapping with a secret-named key, a nested list with a token)."""
    from evalkit.credentials import REDACTED, redact

    rows = [[0, "right", "shelf", True, None, {"api_key": 5}, ["sk-abcdef1234567890"]]]
    assert redact(rows, secrets=[]) == [
        [0, "right", "shelf", True, None, {"api_key": REDACTED}, [REDACTED]]
    ]
    assert redact([["a", "Bearer abc123def456ghi789"]], secrets=[]) == [["a", REDACTED]]
    # a list of numbers (a confusion matrix's rows) is copied without a test per value, and
    # one string among numbers is still tested
    matrix = [[3, 0, 1.5], (0, 2, None)]
    assert redact(matrix, secrets=[]) == [[3, 0, 1.5], [0, 2, None]]
    assert redact([1, 2, "sk-abcdef1234567890"], secrets=[]) == [1, 2, REDACTED]


@pytest.mark.parametrize("shape", CREDENTIAL_SHAPES)
def test_samples_jsonl_is_redacted_by_column_exactly_as_its_rows_would_be(
    shape: str, tmp_path: Path
) -> None:
    """write_samples redacts column by column (a clean column is one clue test); each line is
    what redacting that row alone gives: shapes in a text column, a secret-named column, a
    nested mapping, missing values."""
    import pandas as pd

    from evalkit.credentials import redact
    from evalkit.report.files import write_samples

    rows = [
        {"id": "a", "output": f"said {shape}", "api_key": "plain", "n": 1,
         "checks": {"json": True, "token": "xyz"}, "note": None},
        {"id": "b", "output": "clean", "api_key": None, "n": 2,
         "checks": {"json": False, "token": 5}, "note": f"at {shape}"},
        {"id": "c", "output": "known plainword42", "api_key": 7, "n": 3,
         "checks": {"json": True, "token": None}, "note": "fine"},
    ]  # fmt: skip
    write_samples(tmp_path / "samples.jsonl", pd.DataFrame(rows))
    lines = (tmp_path / "samples.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [redact(row) for row in rows]
    assert shape not in "".join(lines) and '"n": 2' in lines[1]


def test_a_known_secret_is_cut_however_plain_it_looks() -> None:
    from evalkit.credentials import redact

    out = redact({"a": "fine", "b": "xx plainword42 yy"}, secrets=["plainword42"])
    assert out == {"a": "fine", "b": "xx <redacted> yy"}
