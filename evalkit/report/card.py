"""card.json and card.md: the evaluation section of a model card, for a model registry.

What was compared (both arms' identities), on which data (names, sizes and hashes, the
training data's hash), when and with which versions, the results with their intervals, the
forgetting probes, the gates, the release decision and the known limits of the evidence.
Built from the typed results only, redacted like every other file of the run folder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

from evalkit.credentials import redact
from evalkit.jsonutil import WRITE_ERRORS
from evalkit.names import TASK, TRAINING_KIND, TRAINING_SAMPLE
from evalkit.report.markdown import md_code, md_text
from evalkit.report.numbers import judge_note, num, signed
from evalkit.results import ProbeVerdict, Results, redacted

CARD_VERSION = 1
SMALL_SET = 200  # fewer held-out items than this: the card says the intervals are wide


class CardModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CardArm(CardModel):
    model: str
    identity: str
    adapter_sha256: str | None
    prompt_sha256: str
    model_args: dict[str, Any]


class CardData(CardModel):
    name: str
    section: str
    kind: str
    n: int
    sha256: str | None


class CardResult(CardModel):
    dataset: str
    metric: str
    higher_is_better: bool
    baseline: float | None
    candidate: float | None
    diff: float | None
    ci_low: float | None
    ci_high: float | None
    confidence: float
    n: int
    # a judge's metric: whether that judge was measured against people (None: no judge)
    judge: Literal["calibrated", "uncalibrated", "failed"] | None = None


class CardProbe(CardModel):
    probe: str
    version: str
    metric: str
    n: int
    baseline: float | None
    candidate: float | None
    lower_bound: float | None
    margin: float
    verdict: Literal["non-inferior", "not shown", "uninformative"]


class CardGate(CardModel):
    rule: str
    check: str
    passed: bool | None
    evidence: str


class CardRelease(CardModel):
    recommendation: str | None
    previous_run: str | None
    reasons: list[str]


class Card(CardModel):
    card_version: Literal[1] = CARD_VERSION
    suite: str
    suite_sha256: str
    description: str
    run_id: str
    created_at: str
    versions: dict[str, str]
    compared: dict[str, CardArm]
    data: list[CardData]
    training_data_sha256: str | None
    verdict: str
    results: list[CardResult]
    probes: list[CardProbe]
    gates_passed: bool | None
    gates: list[CardGate]
    release: CardRelease | None
    limits: list[str]


def _limits(results: Results) -> list[str]:
    """What the evidence does not show, from this run's own numbers."""
    out = []
    held = next(
        (
            m
            for m in results.metrics
            if m.dataset == "heldout" and m.metric == results.verdict.metric
        ),
        None,
    )
    if held is not None and held.ci_low is not None and held.ci_high is not None:
        width = (held.ci_high - held.ci_low) / 2
        small = (
            " (a small set: differences smaller than that are not resolved)"
            if held.n < SMALL_SET
            else ""
        )
        out.append(
            f"The held-out set has {held.n} items; the {held.confidence:.0%} interval of the "
            f"{held.metric} difference is ±{width:.3f} wide{small}."
        )
    out += [
        f"The judge of rubric {r.rubric} on {r.dataset} is {r.calibration_status} "
        f"({r.calibration_reason}): its scores are not shown to agree with people."
        for r in results.rubrics
        if r.calibration_status != "calibrated"
    ]
    failed = {
        name: d.errors.baseline + d.errors.candidate
        for name, d in results.datasets.items()
        if d.errors.baseline + d.errors.candidate
    }
    if failed:
        listed = ", ".join(f"{k} {v}" for k, v in failed.items())
        out.append(f"Failed requests count as wrong answers: {listed}.")
    if results.contamination is None:
        out.append("Contamination was not checked: the suite names no training data.")
    elif results.contamination:
        out.append(
            f"{len(results.contamination)} evaluation items match training items; scores on "
            "them may reflect memorisation."
        )
    vacuous = list(dict.fromkeys(p.probe for p in results.probes if not p.informative))
    if vacuous:
        out.append(
            f"Forgetting was not measured on {', '.join(vacuous)}: the baseline did not beat "
            "chance there."
        )
    collapsed = list(dict.fromkeys(p.probe for p in results.probes if p.format_collapse))
    if collapsed:
        out.append(f"The candidate answers {', '.join(collapsed)} in its task format instead.")
    if results.gates and results.gates.not_evaluated:
        out.append(f"{len(results.gates.not_evaluated)} gate checks could not be evaluated.")
    out.append(
        "These results hold for the datasets, prompts and settings above; they say nothing "
        "about safety, fairness or inputs unlike these."
    )
    return out


M = TypeVar("M", bound=CardModel)


def _fields(model: type[CardModel], source: BaseModel) -> dict[str, Any]:
    """The values of `source`'s fields that `model` has too."""
    return source.model_dump(include=set(model.model_fields))


def _pick(model: type[M], source: BaseModel) -> M:
    return model.model_validate(_fields(model, source))


def _probe_verdict(p: ProbeVerdict) -> Literal["non-inferior", "not shown", "uninformative"]:
    if not p.informative:
        return "uninformative"
    return "non-inferior" if p.non_inferior else "not shown"


def card_of(results: Results) -> Card:
    """The card of one run (redacted)."""
    results = redacted(results)
    config = results.suite.config.get("arms") or {}
    kinds = {name: d.kind for name, d in results.datasets.items()}
    versions = results.data_versions
    hashes = dict(results.dataset_hashes)
    if versions:
        hashes |= {name: p.sha256 for name, p in versions.probes.items()}
        if versions.training_sample_sha256:
            hashes[TRAINING_SAMPLE] = versions.training_sample_sha256
    release = results.release
    return Card(
        suite=results.suite.name,
        suite_sha256=results.suite.sha256,
        description=results.suite.description,
        run_id=results.run_id,
        created_at=results.created_at,
        versions=results.versions.model_dump(),
        compared={
            arm: CardArm(
                model=a.model,
                identity=a.identity,
                adapter_sha256=a.adapter_sha256,
                prompt_sha256=a.prompt_sha256,
                model_args=redact((config.get(arm) or {}).get("model_args") or {}),
            )
            for arm, a in results.arms.items()
        },
        data=[
            CardData(name=name, section=d.section, kind=d.kind, n=d.n, sha256=hashes.get(name))
            for name, d in results.datasets.items()
        ],
        training_data_sha256=versions.training_data_sha256 if versions else None,
        verdict=results.verdict.sentence,
        results=[
            CardResult(**_fields(CardResult, m), judge=results.judge_status(m))
            for m in results.metrics
            if m.section == TASK and m.headline and kinds.get(m.dataset) != TRAINING_KIND
        ],
        probes=[
            CardProbe(**_fields(CardProbe, p), verdict=_probe_verdict(p)) for p in results.probes
        ],
        gates_passed=results.gates.passed if results.gates and results.gates.results else None,
        gates=[_pick(CardGate, g) for g in (results.gates.results if results.gates else [])],
        release=_pick(CardRelease, release) if release else None,
        limits=_limits(results),
    )


_MARK = {True: "pass", False: "FAIL", None: "not evaluated"}


def card_markdown(card: Card) -> str:
    """The card as Markdown: every string from the suite, the data or a model escaped."""
    lines = [
        f"# Evaluation: {md_text(card.suite)} · run {md_text(card.run_id)}",
        "",
        *([md_text(card.description), ""] if card.description else []),
        md_text(card.verdict),
        "",
        "## What was compared",
        "",
        "| arm | model | identity | adapter sha256 | prompt sha256 |",
        "|---|---|---|---|---|",
        *(
            f"| {arm} | {md_code(a.model)} | {md_code(a.identity)} | "
            f"{md_code(a.adapter_sha256 or '')} | {md_code(a.prompt_sha256)} |"
            for arm, a in card.compared.items()
        ),
        "",
        md_text(
            f"Evaluated {card.created_at} with "
            + ", ".join(f"{k} {v}" for k, v in card.versions.items())
        )
        + f"; suite sha256 {md_code(card.suite_sha256)}.",
        "",
        "## Data",
        "",
        "| dataset | kind | items | sha256 |",
        "|---|---|---|---|",
        *(
            f"| {md_text(d.name)} | {md_text(d.kind)} | {d.n} | {md_code(d.sha256 or '')} |"
            for d in card.data
        ),
        "",
        f"Training data sha256: {md_code(card.training_data_sha256 or 'not given')}",
        "",
        "## Results",
        "",
        "| dataset | metric | baseline | candidate | difference | interval |",
        "|---|---|---|---|---|---|",
        *(
            f"| {md_text(r.dataset)} | {md_text(r.metric + judge_note(r.judge))} | {num(r.baseline)} | "
            f"{num(r.candidate)} | {signed(r.diff)} | {signed(r.ci_low)} to {signed(r.ci_high)} "
            f"({r.confidence:.0%}, n={r.n}) |"
            for r in card.results
        ),
        "",
    ]
    if card.probes:
        lines += [
            "## Forgetting probes",
            "",
            "| probe | metric | items | baseline | candidate | bound of gain | margin | verdict |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {md_text(p.probe)} v{md_text(p.version)} | {md_text(p.metric)} | {p.n} | "
                f"{num(p.baseline)} | "
                f"{num(p.candidate)} | {signed(p.lower_bound)} | {p.margin:g} | {p.verdict} |"
                for p in card.probes
            ),
            "",
        ]
    lines += ["## Gates", ""]
    if card.gates:
        lines += [f"- {_MARK[g.passed]}: {md_text(g.rule)} {md_text(g.check)}: "
                  f"{md_text(g.evidence)}" for g in card.gates]  # fmt: skip
    else:
        lines.append("None configured.")
    lines.append("")
    if card.release is not None:
        r = card.release
        head = (
            f"**{r.recommendation}** against run {md_text(r.previous_run)}"
            if r.recommendation
            else "No earlier release to compare with."
        )
        lines += ["## Release decision", "", head, "", *(f"- {md_text(x)}" for x in r.reasons), ""]
    lines += ["## Known limits", "", *(f"- {md_text(x)}" for x in card.limits)]
    return "\n".join(lines).rstrip() + "\n"


def write_card(run_dir: Path, results: Results) -> None:
    """card.json and card.md in the run folder."""
    card = card_of(results)
    text = json.dumps(card.model_dump(mode="json"), indent=2, ensure_ascii=False)
    (run_dir / "card.json").write_text(text + "\n", encoding="utf-8", errors=WRITE_ERRORS)
    (run_dir / "card.md").write_text(card_markdown(card), encoding="utf-8", errors=WRITE_ERRORS)
