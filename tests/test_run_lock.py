"""Two evalkit processes on one run folder: the folder is locked while a run uses it, and
default run ids started in the same second are distinct."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

from evalkit.pipeline import new_run_id
from tests.conftest import SUITE

SLOW = SUITE.replace('fallback: "I am not sure."', 'fallback: "I am not sure."\n      delay: 0.5')


def _evalkit(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit.cli", "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_resume_of_a_run_still_in_progress_fails_at_once(make_suite, tmp_path) -> None:
    suite = make_suite(SLOW)
    out = tmp_path / "out"
    run_dir = out / "tiny" / "r1"
    first = _evalkit(str(suite), "--out", str(out), "--run-id", "r1", "--no-cache")
    deadline = time.monotonic() + 60
    while not (run_dir / "run.json").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    journal_before = sorted(p.name for p in run_dir.glob("journal*"))
    second = _evalkit(str(suite), "--out", str(out), "--resume", str(run_dir), "--no-cache")
    _, err = second.communicate(timeout=60)
    assert first.poll() is None, "the second process should fail while the first still runs"
    assert second.returncode == 3
    lines = err.strip().splitlines()
    assert lines == [f"error: run folder {run_dir} is in use by another evalkit process "
                     f"(pid {first.pid}); wait for it to end, or start a new run"], err  # fmt: skip
    assert first.wait(timeout=120) == 0, first.communicate()
    assert sorted(p.name for p in run_dir.glob("journal*")) == journal_before or not journal_before
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12  # each sample once: nobody else appended to the journal
    assert json.loads((run_dir / "run.json").read_text())["pid"] == first.pid


def test_three_runs_started_together_get_three_folders(make_suite, tmp_path) -> None:
    suite = make_suite()
    out = tmp_path / "out"
    procs = [_evalkit(str(suite), "--out", str(out), "--no-cache") for _ in range(3)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    folders = {p.parent.resolve().name for p in (out / "tiny").glob("*/results.json")}
    assert len(folders) == 3, folders


def test_default_run_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_run_id() for _ in range(3)]
    assert len(set(ids)) == 3
    # the UTC time first, so that ids sort by when the run started
    assert all(re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", i) for i in ids), ids
