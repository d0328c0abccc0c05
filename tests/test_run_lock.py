"""Two evalkit processes on one run folder: the folder is locked while a run or a merge
writes it, and default run ids started in the same second are distinct."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import evalkit.pipeline
from evalkit.cli import main
from evalkit.pipeline import new_run_id
from tests.conftest import ITEMS, SUITE, write_jsonl

SLOW = SUITE.replace('fallback: "I am not sure."', 'fallback: "I am not sure."\n      delay: 0.5')


def _evalkit(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "evalkit.cli", "run", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _busy_message(run_dir: Path, pid: int) -> list[str]:
    return [f"error: run folder {run_dir} is in use by another evalkit process "
            f"(pid {pid}); wait for it to end, or start a new run"]  # fmt: skip


def _started(suite: Path, out: Path, run_id: str) -> subprocess.Popen:
    """A slow run, returned once its run folder exists (and is locked)."""
    first = _evalkit(str(suite), "--out", str(out), "--run-id", run_id, "--no-cache")
    deadline = time.monotonic() + 60
    while not (out / "tiny" / run_id / "run.json").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return first


def test_a_resume_of_a_run_still_in_progress_fails_at_once(make_suite, tmp_path) -> None:
    suite = make_suite(SLOW)
    out = tmp_path / "out"
    run_dir = out / "tiny" / "r1"
    first = _started(suite, out, "r1")
    journal_before = sorted(p.name for p in run_dir.glob("journal*"))
    second = _evalkit(str(suite), "--out", str(out), "--resume", str(run_dir), "--no-cache")
    _, err = second.communicate(timeout=60)
    assert first.poll() is None, "the second process should fail while the first still runs"
    assert second.returncode == 3
    assert err.strip().splitlines() == _busy_message(run_dir, first.pid), err
    assert first.wait(timeout=120) == 0, first.communicate()
    assert sorted(p.name for p in run_dir.glob("journal*")) == journal_before or not journal_before
    samples = [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 12  # each sample once: nobody else appended to the journal
    assert json.loads((run_dir / "run.json").read_text())["pid"] == first.pid


def test_a_new_run_given_the_id_of_a_run_in_progress_is_told_it_is_busy(
    make_suite, tmp_path
) -> None:
    """Not "an unfinished run has this id; resume it": resuming it would fail too."""
    suite = make_suite(SLOW)
    out = tmp_path / "out"
    first = _started(suite, out, "r1")
    second = _evalkit(str(suite), "--out", str(out), "--run-id", "r1", "--no-cache")
    _, err = second.communicate(timeout=60)
    assert first.poll() is None, "the second process should fail while the first still runs"
    assert second.returncode == 3
    assert err.strip().splitlines() == _busy_message(out / "tiny" / "r1", first.pid), err
    assert first.wait(timeout=120) == 0, first.communicate()


def _shards(suite: Path, out: Path) -> list[str]:
    for i in (1, 2):
        assert main(["run", str(suite), "--out", str(out), "--run-id", f"p{i}",
                     "--shard", f"{i}/2", "--display", "none"]) == 0  # fmt: skip
    return [str(out / "tiny" / f"p{i}") for i in (1, 2)]


def test_merge_into_the_folder_of_a_run_in_progress_is_told_it_is_busy(
    make_suite, tmp_path, capsys
) -> None:
    out = tmp_path / "out"
    parts = _shards(make_suite(), out)
    slow = tmp_path / "slow"  # the same suite name, answering slowly
    slow.mkdir()
    write_jsonl(slow / "items.jsonl", ITEMS)
    (slow / "suite.yaml").write_text(SLOW)
    first = _started(slow / "suite.yaml", out, "m1")
    code = main(["merge", *parts, "--out", str(out), "--run-id", "m1"])
    assert first.poll() is None, "the merge should fail while the run still runs"
    assert code == 3
    assert capsys.readouterr().err.strip().splitlines()[-1:] == _busy_message(
        out / "tiny" / "m1", first.pid
    )
    assert first.wait(timeout=120) == 0, first.communicate()


def test_merge_holds_the_lock_of_the_folder_it_writes(make_suite, tmp_path, monkeypatch) -> None:
    """While a merge writes its run folder, another process cannot take the folder."""
    out = tmp_path / "out"
    parts = _shards(make_suite(), out)
    seen = []
    write_outputs = evalkit.pipeline.write_outputs

    def probing(run_dir: Path, *args: object) -> None:
        probe = "from evalkit.runfolder import locked; import sys\nwith locked(__import__('pathlib').Path(sys.argv[1])): pass"
        seen.append(subprocess.run([sys.executable, "-c", probe, str(run_dir)],
                                   capture_output=True, text=True))  # fmt: skip
        write_outputs(run_dir, *args)

    monkeypatch.setattr(evalkit.pipeline, "write_outputs", probing)
    assert main(["merge", *parts, "--out", str(out), "--run-id", "m1"]) == 0
    (probe,) = seen
    assert probe.returncode != 0
    assert f"is in use by another evalkit process (pid {os.getpid()})" in probe.stderr


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
