"""`evalkit run` writes only inside --out: the run id is one folder name, and --out and
--cache-dir must be folders. Each refusal is exit 2 with one located line, before any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.cli import main


@pytest.mark.parametrize(
    "run_id", ["../../../escaped", "a/b", "..", ".", "latest", "/abs", "has space", "x" * 129, ""]
)
def test_unsafe_run_ids_are_refused(
    make_suite, tmp_path: Path, capsys: pytest.CaptureFixture[str], run_id: str
) -> None:
    out = tmp_path / "deep" / "reports"
    code = main(["run", str(make_suite()), "--out", str(out), "--run-id", run_id])
    err = capsys.readouterr().err
    assert code == 2 and "--run-id" in err and len(err.strip().splitlines()) == 1
    # nothing was written anywhere: not under --out, not beside it
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "items.jsonl",
        "suite.yaml",
    ]


@pytest.mark.parametrize("flag", ["--out", "--cache-dir"])
@pytest.mark.parametrize("where", ["the folder", "a parent"])
def test_folder_arguments_that_are_files_are_refused(
    make_suite, tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: str, where: str
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file", encoding="utf-8")
    target = blocker if where == "the folder" else blocker / "sub"
    code = main(["run", str(make_suite()), flag, str(target), "--run-id", "r1"])
    err = capsys.readouterr().err
    assert code == 2 and flag in err and "blocker" in err and "not a folder" in err
    assert len(err.strip().splitlines()) == 1


def test_a_safe_run_id_names_the_run_folder(
    make_suite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "reports"
    code = main(["run", str(make_suite()), "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--run-id", "v1.2_rc-3"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert (out / "tiny" / "v1.2_rc-3" / "results.json").is_file()
