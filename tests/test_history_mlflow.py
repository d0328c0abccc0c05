"""MLflow tracking against a real MLflow file store in a temporary folder (no mock): params,
metrics per arm, the report and results as artifacts, tags on a registered model version, and
no secret in anything MLflow keeps."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from mlflow import MlflowClient

from evalkit.cli import main
from evalkit.errors import EXIT_BAD_INPUT, EXIT_OK
from tests.conftest import ITEMS, SUITE, write_jsonl

SECRET = "planted-mlflow-secret-4711"  # an environment secret that a model then writes back


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, MlflowClient]:
    """A file store with a registered model version `tiny-intents` 1."""
    # MLflow 3 keeps file stores in maintenance mode and asks for this opt-in
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    client.create_registered_model("tiny-intents")
    client.create_model_version("tiny-intents", source=str(tmp_path / "adapter"))
    return uri, client


def write_suite(folder: Path, tracking: str) -> Path:
    text = textwrap.dedent(SUITE).replace('fallback: "I am not sure."', f'fallback: "{SECRET}"')
    write_jsonl(folder / "items.jsonl", ITEMS)
    (folder / "suite.yaml").write_text(text + tracking, encoding="utf-8")
    return folder / "suite.yaml"


def run(folder: Path, suite: Path, *extra: str) -> int:
    return main(["run", str(suite), "--out", str(folder / "reports"),
                 "--cache-dir", str(folder / "cache"), "--run-id", "r1", *extra])  # fmt: skip


def test_a_run_is_tracked_in_mlflow(
    tmp_path: Path, store: tuple[str, MlflowClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, client = store
    monkeypatch.setenv("EVALKIT_TEST_TOKEN", SECRET)
    tracking = (
        f"tracking:\n  mlflow:\n    uri: {uri}\n    experiment: evalkit-tiny\n"
        "    registered_model: {name: tiny-intents, version: '1'}\n"
    )
    assert run(tmp_path, write_suite(tmp_path, tracking)) == EXIT_OK
    results = json.loads((tmp_path / "reports/tiny/r1/results.json").read_text(encoding="utf-8"))

    experiment = client.get_experiment_by_name("evalkit-tiny")
    (tracked,) = client.search_runs([experiment.experiment_id])
    assert tracked.info.status == "FINISHED" and tracked.info.run_name == "tiny/r1"
    params, metrics, tags = tracked.data.params, tracked.data.metrics, tracked.data.tags
    for arm in ("baseline", "candidate"):
        info = results["arms"][arm]
        assert params[f"{arm}.model"] == info["model"]
        assert params[f"{arm}.prompt_sha256"] == info["prompt_sha256"]
        assert params[f"{arm}.identity"] == info["identity"]
    assert params["data.heldout.sha256"] == results["dataset_hashes"]["heldout"]
    logged = 0
    for m in results["metrics"]:
        path = f"{m['dataset']}.{m['metric']}"
        for key, value in (("baseline", m["baseline"]), ("candidate", m["candidate"]),
                           ("diff_ci_low", m["ci_low"])):  # fmt: skip
            # a metric without a value (none of its items had one) is not logged
            assert metrics.get(f"{key}.{path}") == (None if value is None else pytest.approx(value))
            logged += value is not None
    assert logged >= 3 * 5  # accuracy, macro F1, format adherence, ... all logged
    assert tags["evalkit.run_id"] == "r1" and tags["evalkit.gates"] == "none"
    artifacts = {a.path for a in client.list_artifacts(tracked.info.run_id)}
    assert {"index.html", "results.json", "samples.jsonl", "card.md", "card.json"} <= artifacts

    version = client.get_model_version("tiny-intents", "1")
    assert version.tags["evalkit.run_id"] == "r1"
    assert version.tags["evalkit.mlflow_run"] == tracked.info.run_id
    accuracy = next(m for m in results["metrics"] if m["metric"] == "accuracy")
    assert version.tags["evalkit.heldout.accuracy"] == f"{accuracy['candidate']:.4f}"

    # the baseline answered with the planted secret: MLflow keeps the redacted files only
    kept = [p for p in (tmp_path / "mlruns").rglob("*") if p.is_file()]
    assert kept and not [p for p in kept if SECRET.encode() in p.read_bytes()]


def test_the_flag_names_the_store_and_a_missing_version_stops_the_run_before_it_starts(
    tmp_path: Path, store: tuple[str, MlflowClient], capsys: pytest.CaptureFixture[str]
) -> None:
    uri, _ = store
    tracking = "tracking:\n  mlflow: {registered_model: {name: tiny-intents, version: '7'}}\n"
    suite = write_suite(tmp_path, tracking)
    assert run(tmp_path, suite, "--mlflow", uri) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "--mlflow: MLflow at" in err and "tiny-intents" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "reports" / "tiny").exists()  # no run folder, no model call
    # without a URI anywhere, the suite's tracking block is an error too
    assert run(tmp_path, suite) == EXIT_BAD_INPUT
    assert f"{suite} [tracking.mlflow]: no tracking URI" in capsys.readouterr().err


def test_without_mlflow_installed_the_error_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    suite = write_suite(tmp_path, "")
    assert run(tmp_path, suite, "--mlflow", (tmp_path / "mlruns").as_uri()) == EXIT_BAD_INPUT
    assert 'pip install "evalkit[mlflow]"' in capsys.readouterr().err
    assert not (tmp_path / "reports" / "tiny").exists()


@pytest.mark.parametrize("scheme", ["file", "sqlite"])
def test_a_store_mlflow_refuses_is_a_located_error_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scheme
) -> None:
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # file: needs this opt-in
    uri = (tmp_path / "mlruns").as_uri() if scheme == "file" else f"sqlite:///{tmp_path}/m.db"
    suite = write_suite(tmp_path, f"tracking:\n  mlflow: {{uri: '{uri}'}}\n")
    assert run(tmp_path, suite) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert f"{suite} [tracking.mlflow.uri]: MLflow at {uri}" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert run(tmp_path, suite, "--mlflow", uri) == EXIT_BAD_INPUT
    assert "--mlflow: MLflow at" in capsys.readouterr().err
    assert not (tmp_path / "reports" / "tiny").exists()
