"""Optional MLflow tracking: each finished run as an MLflow run, and tags on a registered model
version when the suite names one.

Needs `pip install "evalkit[mlflow]"` (MLflow's client, `mlflow-skinny`). Logged: the arms'
identities, data hashes and versions as params; every metric per arm, the difference and its
interval as metrics; the report, results and model card as artifacts. Everything logged is
redacted (`evalkit.credentials.redact`) like every other file evalkit writes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalkit.credentials import looks_like_credential, redact
from evalkit.errors import InputError, RunFailed
from evalkit.names import ARMS
from evalkit.results import Results, redacted
from evalkit.suite.schema import RegisteredModel, Suite

ARTIFACTS = ("index.html", "results.json", "samples.jsonl", "card.md", "card.json", "summary.md")
MAX_PARAM = 6000  # MLflow's limit on a param value


@dataclass(frozen=True)
class MlflowTarget:
    uri: str
    experiment: str
    registered_model: RegisteredModel | None
    where: str  # the suite key or flag that set the URI, for messages
    path: Path | None  # the suite file, when the suite set it

    def error(self, message: str) -> InputError:
        return InputError(message, path=self.path, where=self.where)


def mlflow_target(suite: Suite, suite_path: Path, uri_flag: str | None) -> MlflowTarget | None:
    """Where to track the run: `--mlflow` wins over the suite's `tracking.mlflow.uri`."""
    config = suite.tracking.mlflow
    uri = uri_flag or (config.uri if config else None)
    if uri is None:
        if config is not None:
            raise InputError(
                "no tracking URI: give tracking.mlflow.uri or --mlflow",
                path=suite_path,
                where="tracking.mlflow",
            )
        return None
    target = MlflowTarget(
        uri=uri,
        experiment=(config.experiment if config else None) or suite.name,
        registered_model=config.registered_model if config else None,
        where="--mlflow" if uri_flag else "tracking.mlflow.uri",
        path=None if uri_flag else suite_path,
    )
    if looks_like_credential(uri):
        raise target.error(
            "the tracking URI carries credentials; use MLflow's environment variables for them"
        )
    return target


def _client(target: MlflowTarget) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise target.error(
            'MLflow tracking needs MLflow\'s client: pip install "evalkit[mlflow]"'
        ) from None
    return MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:500]


def check_target(target: MlflowTarget) -> None:
    """Before any model call: MLflow is installed, the store answers, the experiment exists
    (it is created if not) and the named model version is registered."""
    from mlflow.exceptions import MlflowException

    try:
        # MLflow may refuse the store already here (a file store without its opt-in, sqlite
        # with mlflow-skinny): that is the URI's fault, so it is located at the URI's key too
        client = _client(target)
        if client.get_experiment_by_name(target.experiment) is None:
            client.create_experiment(target.experiment)
        model = target.registered_model
        if model is not None:
            client.get_model_version(model.name, model.version)
    except MlflowException as e:
        raise target.error(f"MLflow at {target.uri}: {_one_line(e)}") from None


def _params(results: Results) -> dict[str, str]:
    versions = results.data_versions
    params: dict[str, Any] = {
        "suite": results.suite.name,
        "suite_sha256": results.suite.sha256,
        "run_id": results.run_id,
        "evalkit_version": results.versions.evalkit,
        "inspect_ai_version": results.versions.inspect_ai,
        "stats.confidence": results.stats.confidence,
        "stats.bootstrap": results.stats.bootstrap,
        "stats.seed": results.stats.seed,
        "data.training.sha256": versions.training_data_sha256 if versions else None,
        **{f"data.{name}.sha256": sha for name, sha in results.dataset_hashes.items()},
    }
    arms_config = results.suite.config.get("arms") or {}
    for arm, info in results.arms.items():
        params |= {
            f"{arm}.model": info.model,
            f"{arm}.identity": info.identity,
            f"{arm}.adapter_sha256": info.adapter_sha256,
            f"{arm}.prompt_sha256": info.prompt_sha256,
            f"{arm}.model_args": json.dumps(
                (arms_config.get(arm) or {}).get("model_args") or {}, sort_keys=True
            ),
        }
    return {k: str(v)[:MAX_PARAM] for k, v in params.items() if v is not None}


def _metrics(results: Results) -> dict[str, float]:
    out: dict[str, float] = {}
    for m in results.metrics:
        values = {
            **{arm: m[arm] for arm in ARMS},
            "diff": m.diff,
            "diff_ci_low": m.ci_low,
            "diff_ci_high": m.ci_high,
        }
        out |= {f"{k}.{m.path}": float(v) for k, v in values.items() if v is not None}
    return out


def _tags(results: Results, run_dir: Path) -> dict[str, str]:
    gates = results.gates
    release = results.release
    return {
        "evalkit.suite": results.suite.name,
        "evalkit.run_id": results.run_id,
        "evalkit.run_dir": str(run_dir.resolve()),
        "evalkit.gates": "none" if not gates or not gates.results else
        ("passed" if gates.passed else "failed"),
        "evalkit.verdict": results.verdict.outcome,
        "evalkit.recommendation": (release.recommendation or "none") if release else "none",
    }  # fmt: skip


def log_run(target: MlflowTarget, results: Results, run_dir: Path) -> str:
    """Log one finished run; returns MLflow's run id. A failure is RunFailed: the run folder
    is complete, only its copy in MLflow is missing."""
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException

    results = redacted(results)
    client = _client(target)
    try:
        experiment = client.get_experiment_by_name(target.experiment)
        experiment_id = (
            experiment.experiment_id if experiment else client.create_experiment(target.experiment)
        )
        tags = _tags(results, run_dir)
        run = client.create_run(
            experiment_id, run_name=f"{results.suite.name}/{results.run_id}", tags=tags
        )
        mlflow_run = run.info.run_id
        now = int(time.time() * 1000)
        params = [Param(k, v) for k, v in redact(_params(results)).items()]
        metrics = [Metric(k, v, now, 0) for k, v in _metrics(results).items()]
        # MLflow takes at most 100 params and 1000 metrics per batch
        for i in range(0, len(params), 100):
            client.log_batch(mlflow_run, params=params[i : i + 100])
        for i in range(0, len(metrics), 1000):
            client.log_batch(mlflow_run, metrics=metrics[i : i + 1000])
        for name in ARTIFACTS:
            if (run_dir / name).is_file():
                client.log_artifact(mlflow_run, str(run_dir / name))
        client.set_terminated(mlflow_run)
        model = target.registered_model
        if model is not None:
            version_tags = {
                **tags,
                "evalkit.mlflow_run": mlflow_run,
                **{
                    f"evalkit.{m.path}": f"{m.candidate:.4f}"
                    for m in results.metrics
                    if m.headline and m.candidate is not None
                },
            }
            for key, value in version_tags.items():
                client.set_model_version_tag(model.name, model.version, key, value)
    except MlflowException as e:
        raise RunFailed(
            f"the run folder {run_dir} is complete, but logging it to MLflow at {target.uri} "
            f"failed: {_one_line(e)}"
        ) from None
    return mlflow_run
