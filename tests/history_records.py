"""Synthetic run-store records for the history tests: one held-out metric with both arms'
intervals, one probe, one gate; each argument changes one thing."""

from __future__ import annotations

from evalkit.history.records import (
    ArmRecord,
    DatasetRecord,
    GateRecord,
    MetricRecord,
    RunRecord,
)


def arm(model: str, identity: str, adapter: str | None = None, prompt: str = "p" * 64) -> ArmRecord:
    return ArmRecord(
        model=model,
        identity=identity,
        adapter_sha256=adapter,
        prompt_sha256=prompt,
        model_args={"batch_size": 4},
    )


def record(
    run_id: str,
    created_at: str,
    *,
    suite: str = "tiny",
    candidate: ArmRecord | None = None,
    data: str = "d" * 64,
    value: float = 0.8,
    half: float | None = 0.04,
    passed: bool | None = True,
) -> RunRecord:
    """A synthetic record: one held-out metric with both intervals, one probe, one gate."""
    return RunRecord(
        suite=suite,
        suite_sha256="s" * 64,
        run_id=run_id,
        created_at=created_at,
        run_dir=f"/runs/{suite}/{run_id}",
        evalkit_version="0.1.0",
        inspect_version="0.3.285",
        task_type="classification",
        merged=False,
        training_data_sha256=None,
        gates_passed=passed,
        verdict="The candidate beats the baseline.",
        arms={
            "baseline": arm("openai/gpt-4o-mini", "base0000"),
            "candidate": candidate or arm("local/smollm2", "cand1111", adapter="a" * 64),
        },
        datasets=[
            DatasetRecord(
                name="heldout",
                section="task",
                kind="in_domain",
                sha256=data,
                n=100,
                errors_baseline=0,
                errors_candidate=1,
            ),
            DatasetRecord(
                name="gsm8k",
                section="probe",
                kind="probe",
                sha256=None,
                n=20,
                errors_baseline=0,
                errors_candidate=0,
            ),
        ],
        metrics=[
            MetricRecord(
                dataset="heldout",
                section="task",
                metric="macro_f1",
                headline=True,
                higher_is_better=True,
                confidence=0.95,
                n=100,
                baseline=0.5,
                candidate=value,
                diff=value - 0.5,
                ci_low=0.1,
                ci_high=0.4,
                baseline_low=0.45,
                baseline_high=0.55,
                candidate_low=None if half is None else value - half,
                candidate_high=None if half is None else value + half,
            ),
            MetricRecord(
                dataset="gsm8k",
                section="probe",
                metric="accuracy",
                headline=True,
                higher_is_better=True,
                confidence=0.95,
                n=20,
                baseline=0.3,
                candidate=0.25,
                diff=-0.05,
                ci_low=-0.2,
                ci_high=0.1,
            ),
        ],
        gates=[
            GateRecord(
                rule="heldout.macro_f1",
                check="candidate >= 0.5",
                passed=passed,
                evidence="candidate = 0.8",
            )
        ],
    )
