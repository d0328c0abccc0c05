"""`.ci/run` runs the linters after installing and before the tests, and stops on a lint failure."""

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# Every command .ci/run calls is replaced by a shim that logs its arguments; `ruff` fails when
# FAIL_RUFF is set, so the test sees whether a lint failure stops the script.
SHIM = """#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$CI_LOG"
if [ "$(basename "$0")" = python3 ] && [ "$1 $2" = "-m venv" ]; then
  mkdir -p "$3/bin" && : > "$3/bin/activate"
fi
if [ "$(basename "$0")" = ruff ] && [ -n "${FAIL_RUFF:-}" ]; then exit 1; fi
exit 0
"""


def _run_ci(tmp_path: Path, fail_ruff: bool) -> tuple[int, list[str]]:
    repo = tmp_path / "repo"
    (repo / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "run", repo / ".ci" / "run")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("python3", "python", "pip", "ruff", "chromium", "apt-get"):
        shim = bin_dir / name
        shim.write_text(SHIM)
        shim.chmod(shim.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / "ci.log"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "CI_LOG": str(log), "HOME": str(tmp_path)}
    if fail_ruff:
        env["FAIL_RUFF"] = "1"
    proc = subprocess.run(["bash", str(repo / ".ci" / "run")], env=env, capture_output=True)
    return proc.returncode, log.read_text().splitlines()


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_ci_lints_between_install_and_tests(tmp_path: Path) -> None:
    rc, calls = _run_ci(tmp_path, fail_ruff=False)
    assert rc == 0, calls
    install = calls.index("pip install -e .[local,dev,ray]")
    check = calls.index("ruff check .")
    fmt = calls.index("ruff format --check .")
    tests = calls.index("python -m pytest")
    assert install < check < fmt < tests


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_ci_stops_on_a_lint_failure(tmp_path: Path) -> None:
    rc, calls = _run_ci(tmp_path, fail_ruff=True)
    assert rc != 0
    assert "ruff check ." in calls
    assert "python -m pytest" not in calls
