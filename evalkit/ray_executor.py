"""`evalkit run --executor ray`: the shards of one run as Ray tasks, then one merged run folder.

Each task is an ordinary shard run (`--shard i/N`) in the Ray worker process, writing its own
run folder `<out>/<suite>/<run-id>.shard<i>of<N>` with its own journal, so shards share
nothing mutable but the response cache (SQLite in WAL mode, safe for writers on one machine).
A task whose worker dies is retried by Ray, and the retry resumes that shard from its journal
instead of starting it again. When every shard is complete, `merge_runs` joins them into
`<out>/<suite>/<run-id>`, whose numbers equal those of the run without shards.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from evalkit import runfolder
from evalkit.errors import EvalkitError, InputError, Interrupted, NotInstalled, RunFailed
from evalkit.pipeline import RunOptions, RunOutcome, merge_runs, new_run_id, run_suite
from evalkit.run.plan import Shard
from evalkit.suite.load import load_suite

# Ray retries a task whose worker process died this many times; an exception a shard raises
# (bad input, a failed arm) is not retried: it would fail again.
SHARD_RETRIES = 3


@dataclass(frozen=True)
class ShardDone:
    """What a shard task hands back: plain values, so no evalkit exception crosses Ray."""

    index: int
    run_dir: str
    error: str | None = None
    exit_code: int = 0


def shard_dir(out_dir: Path, suite_name: str, run_id: str, shard: Shard) -> Path:
    return out_dir / suite_name / f"{run_id}.shard{shard.index}of{shard.count}"


def run_shard(suite_path: Path, options: RunOptions, run_dir: Path) -> ShardDone:
    """One shard, in a Ray worker: done already, resumed from its journal, or started."""
    assert options.shard is not None
    manifest = runfolder.read_manifest(run_dir)
    if manifest is not None and manifest.get("state") == runfolder.COMPLETE:
        return ShardDone(options.shard.index, str(run_dir))
    # a folder with a manifest was started by an earlier try of this task (its worker was
    # killed) or an earlier run of this --run-id: its journal's answers are not sent again
    shard_options = replace(options, run_id=run_dir.name, resume=run_dir if manifest else False)
    try:
        run_suite(suite_path, shard_options)
    except EvalkitError as e:
        return ShardDone(options.shard.index, str(run_dir), str(e), e.exit_code)
    return ShardDone(options.shard.index, str(run_dir))


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise NotInstalled(
            "--executor ray needs Ray, which is not installed: pip install 'evalkit[ray]'"
        ) from None
    return ray


def _start(ray: Any, address: str | None, shards: int | None) -> None:
    # a local instance must not report usage over the network; a user's own choice stands
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.ERROR}
    if address is None:
        cores = os.cpu_count() or 1
        ray.init(
            address="local",  # a new instance even where RAY_ADDRESS names a cluster
            num_cpus=min(shards, cores) if shards else cores,
            include_dashboard=False,
            **quiet,
        )
    else:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, ValueError, RuntimeError) as e:
            raise InputError(f"cannot connect to Ray at {address!r}: {e}", where="--address") from e


def run_on_ray(
    suite_path: Path,
    options: RunOptions,
    *,
    shards: int | None = None,
    address: str | None = None,
    report: Callable[[str], None] = lambda line: None,
) -> RunOutcome:
    """Run the suite as `shards` Ray tasks (default: one per CPU of the cluster) and merge them.

    Without `address` a local Ray instance is started for the run and stopped after it.
    Running it again with the same `options.run_id` finishes the shards that did not
    complete (and skips those that did).
    """
    from evalkit.history.recording import prepare

    ray = _ray()
    loaded = load_suite(suite_path)  # a bad suite is exit 2 before any cluster starts
    # checks the run store and MLflow now, and creates the store before shards read it at once
    prepare(loaded, options.history_db, options.out_dir, options.mlflow_uri)
    run_id = options.run_id or new_run_id()
    merged = options.out_dir / loaded.suite.name / run_id
    if merged.exists():
        raise InputError("this run folder exists; choose another --run-id", path=merged)
    resume = (
        f"evalkit run {suite_path} --executor ray --run-id {run_id}"
        + (f" --shards {shards}" if shards else "")
        + (f" --address {address}" if address else "")
    )
    _start(ray, address, shards)
    try:
        count = shards or max(1, int(ray.cluster_resources().get("CPU", 1)))
        # absolute paths: a worker's working folder is not the driver's
        base = replace(
            options,
            out_dir=options.out_dir.resolve(),
            cache_dir=options.cache_dir.resolve() if options.cache_dir else None,
            display="none",
            history_db=options.history_db.resolve() if options.history_db else None,
            baseline_run=None,  # shards are not gated
            mlflow_uri=None,  # and not tracked: the merged run is
        )
        task = ray.remote(run_shard).options(
            num_cpus=1, max_retries=SHARD_RETRIES, retry_exceptions=False
        )
        dirs = {}
        pending = []
        for i in range(1, count + 1):
            shard = Shard(i, count)
            dirs[i] = shard_dir(base.out_dir, loaded.suite.name, run_id, shard)
            pending.append(task.remote(suite_path.resolve(), replace(base, shard=shard), dirs[i]))
        report(f"{count} shards submitted to Ray; folders {dirs[1].parent}/{run_id}.shard*")
        failed = _wait(ray, pending, count, report, resume)
    finally:
        if address is None:
            ray.shutdown()
    if failed:
        worst = failed[0]
        error = RunFailed if worst.exit_code != InputError.exit_code else InputError
        raise error(
            f"shard {worst.index}/{count} failed: {worst.error}"
            + (f" ({len(failed) - 1} more shards failed)" if len(failed) > 1 else "")
        )
    return merge_runs([dirs[i] for i in sorted(dirs)], replace(options, run_id=run_id), suite_path)


def _wait(
    ray: Any, pending: list[Any], count: int, report: Callable[[str], None], resume: str
) -> list[ShardDone]:
    """Wait for every shard task; the shards that failed, each with its error."""
    failed = []
    try:
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                done: ShardDone = ray.get(ready[0])
            except ray.exceptions.RayError as e:  # its worker died more often than retried
                raise RunFailed(
                    f"a shard's Ray task failed ({type(e).__name__}: {e}); resume with: {resume}"
                ) from None
            if done.error is not None:
                failed.append(done)
            report(
                f"shard {done.index}/{count} "
                + ("done" if done.error is None else "failed")
                + f": {done.run_dir}"
            )
    except KeyboardInterrupt:
        for ref in pending:
            ray.cancel(ref, force=True)  # the shards' journals keep what they finished
        raise Interrupted(f"interrupted; resume with: {resume}") from None
    return failed
