"""The self-contained HTML report: one file, inline CSS and JS, readable offline by a stakeholder.

Everything a model, a dataset or a judge wrote is untrusted: the template autoescapes it, and
the sample browser receives it as one JSON blob that its JS writes with `textContent` only.
"""

from __future__ import annotations

import contextlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from jinja2 import Environment, FileSystemBytecodeCache, FileSystemLoader
from jinja2.bccache import Bucket
from markupsafe import Markup

from evalkit.credentials import redact
from evalkit.history.schema import ReleaseDecision
from evalkit.home import evalkit_home
from evalkit.jsonutil import WRITE_ERRORS, json_ready
from evalkit.names import ARMS
from evalkit.report.beyond import details, field_tables, memorisation_rows, own_section, style_views
from evalkit.report.charts import f1_bars, heat_map, interval_bar
from evalkit.report.headline import headline
from evalkit.report.history import history_view, release_view
from evalkit.report.numbers import missing, num, pct, pvalue, short_hash, signed
from evalkit.results import ClassDetail, MetricResult, Results, redacted

TEMPLATES = Path(__file__).parent / "templates"
PAGE_SIZE = 100
CONTAMINATION_SHOWN = 200  # matches listed in full; the rest are counted
# Sample-browser flag bits, shared with the page's JS (report.js.j2 reads them by name)
FLAGS = {"disagreement": 1, "error": 2, "format": 4, "wrong": 8}
# The order of one browser row; the JS looks fields up by name from this list.
ROW_FIELDS = [
    "dataset", "id", "input", "target", "flags",
    "b_output", "b_label", "b_correct", "b_format_ok", "b_error",
    "c_output", "c_label", "c_correct", "c_format_ok", "c_error",
    "b_judge", "c_judge",
    "b_detail", "c_detail",  # extraction field diff and per-answer scores (report/beyond.py)
]  # fmt: skip


def direction(m: MetricResult) -> str:
    """'good', 'bad' or 'neutral': does the interval exclude zero, and on which side?"""
    lo, hi = m.ci_low, m.ci_high
    if missing(lo) or missing(hi):
        return "neutral"
    up, down = lo > 0, hi < 0
    if m.higher_is_better:
        return "good" if up else "bad" if down else "neutral"
    return "good" if down else "bad" if up else "neutral"


@dataclass(frozen=True)
class MetricView:
    """A metric row as a table shows it: the row's fields, its interval bar and its colour."""

    row: MetricResult
    bar: dict[str, float] | None  # SVG x positions (0–120, zero at 60)
    direction: str
    judge: str | None = None  # the calibration status of the judge that made it, if one did

    def __getattr__(self, name: str) -> Any:
        return getattr(self.row, name)


def _with_bars(metrics: list[MetricResult], results: Results | None = None) -> list[MetricView]:
    # one scale per table, so the bars of a dataset compare with each other
    spans = [
        abs(float(v)) for m in metrics for v in (m.ci_low, m.ci_high, m.diff) if not missing(v)
    ]
    scale = max([*spans, 1e-9])
    return [
        MetricView(
            m,
            interval_bar(m.ci_low, m.ci_high, m.diff, scale),
            direction(m),
            results.judge_status(m) if results else None,
        )
        for m in metrics
    ]


def _is_format(name: str) -> bool:
    return name == "format_adherence" or name.startswith("format.")


def _classes(classes: dict[str, ClassDetail] | None) -> dict[str, Any] | None:
    if not classes:
        return None
    per = {arm: {c.label: c for c in d.per_class} for arm, d in classes.items()}
    labels = list(dict.fromkeys(lab for arm in ARMS for lab in per.get(arm, {})))
    per_class = [
        {arm: per.get(arm, {}).get(lab) for arm in ARMS} | {"label": lab} for lab in labels
    ]
    return {
        "per_class": per_class,
        "f1_chart": f1_bars(per_class),
        "confusion": {arm: heat_map(d.confusion) for arm, d in classes.items()},
    }


def _datasets(results: Results) -> list[dict[str, Any]]:
    out = []
    for name, d in results.datasets.items():
        metrics = results.metrics_of(name)
        out.append(
            {
                "name": name,
                "section": d.section,
                "kind": d.kind,
                "n": d.n,
                "errors": d.errors,
                "paired": d.paired,
                "metrics": _with_bars(
                    [m for m in metrics if not _is_format(m.metric) and not own_section(m.metric)],
                    results,
                ),
                "format": _with_bars([m for m in metrics if _is_format(m.metric)]),
                "classes": _classes(d.classes),
            }
        )
    return out


def _economics(results: Results) -> dict[str, Any] | None:
    econ = results.economics
    if not econ:
        return None
    b_in = econ["baseline"].mean_input_tokens if "baseline" in econ else None
    c_in = econ["candidate"].mean_input_tokens if "candidate" in econ else None
    # a provider may report 0 input tokens (or an empty prompt sends none): no ratio either way
    known = not missing(b_in) and not missing(c_in) and float(b_in) > 0 and float(c_in) > 0
    return {
        "arms": econ,
        "input_ratio": float(b_in) / float(c_in) if known else None,
        "judge": results.judge_cost,
    }


def _column(rows: pd.DataFrame, name: str) -> list[Any]:
    if name not in rows.columns:
        return [None] * len(rows)
    return [json_ready(v) for v in rows[name].tolist()]


def _flags(b: tuple[Any, ...], c: tuple[Any, ...]) -> int:
    """Filter bits from each arm's (output, label, correct, format_ok, error, parsed)."""
    (bo, bl, bc, bf, be, bp), (co, cl, cc, cf, ce, cp) = b, c
    # like the paired statistics: two missing labels agree; generation tasks have no label
    # at all (parsed is None), so there the outputs themselves are compared
    disagree = bl != cl if (bp is not None or cp is not None) else bo != co
    flags = FLAGS["disagreement"] if disagree else 0
    flags |= FLAGS["error"] if (be is not None or ce is not None) else 0
    flags |= FLAGS["format"] if (bf is False or cf is False) else 0
    flags |= FLAGS["wrong"] if (bc is False or cc is False) else 0
    return flags


def judge_text(entry: Any) -> str | None:
    """One arm's judgments as readable text: per rubric its overall, pass, scores and reasons."""
    if entry is None or (isinstance(entry, float) and math.isnan(entry)):
        return None
    if not isinstance(entry, dict):
        return str(entry)
    parts = []
    for name, j in entry.items():
        if not isinstance(j, dict):
            parts.append(f"{name}: {j}")
        elif "winner" in j:  # a pairwise comparison, shared by both arms' rows
            flipped = " (flipped when the order was swapped)" if j.get("flipped") else ""
            parts.append(
                f"{name}: {j.get('error') or 'preferred ' + str(j.get('winner'))}{flipped}"
            )
        elif j.get("error"):
            parts.append(f"{name}: not judged ({j['error']})")
        elif "class" in j:  # a refusal probe's reply, classified by the judge
            parts.append(f"{name}: {j['class']} (string match: {j.get('string_match')})")
        else:
            verdict = {True: "pass", False: "fail"}.get(j.get("passed"), "no pass/fail")
            lines = [f"{name}: overall {num(j.get('overall'), 2)} ({verdict})"]
            reasons = j.get("reasons") or {}
            for crit, score in (j.get("scores") or {}).items():
                reason = reasons.get(crit)
                lines.append(f"  {crit} = {score}" + (f": {reason}" if reason else ""))
            parts.append("\n".join(lines))
    return "\n".join(parts)


def browser_rows(table: pd.DataFrame) -> dict[str, Any]:
    """Both arms of each item on one row, paired by (dataset, id), in the table's order."""
    cols = ["output", "label", "correct", "format_ok", "error"]  # into the blob
    shown = len(cols)
    judged = "judge" in table.columns and table["judge"].notna().any()
    per_arm: dict[str, dict[tuple[str, str], tuple[Any, ...]]] = {}
    shared: dict[tuple[str, str], tuple[Any, Any]] = {}  # (dataset, id) → (input, target)
    for arm in ARMS:
        rows = table[table["arm"] == arm]
        keys = list(zip(rows["dataset"].tolist(), rows["id"].astype(str).tolist(), strict=True))
        values = zip(*(_column(rows, c) for c in [*cols, "parsed"]), strict=True)
        judge = [judge_text(j) for j in rows["judge"]] if judged else [None] * len(rows)
        extra = zip(judge, details(rows), strict=True)
        per_arm[arm] = {k: (*v, *e) for k, v, e in zip(keys, values, extra, strict=True)}
        for k, inp, tgt in zip(keys, _column(rows, "input"), _column(rows, "target"), strict=True):
            shared.setdefault(k, (inp, tgt))
    datasets = list(dict.fromkeys(k[0] for k in shared))
    ds_index = {d: i for i, d in enumerate(datasets)}
    missing = (None,) * (shown + 3)  # an item one arm lacks (analysis rejects such runs)
    rows_out = []
    for key, (inp, tgt) in shared.items():
        b = per_arm["baseline"].get(key, missing)
        c = per_arm["candidate"].get(key, missing)
        flags = _flags(b[: shown + 1], c[: shown + 1])
        rows_out.append(
            [ds_index[key[0]], key[1], inp, tgt, flags, *b[:shown], *c[:shown],
             b[-2], c[-2], b[-1], c[-1]]
        )  # fmt: skip
    return {
        "fields": ROW_FIELDS,
        "flags": FLAGS,
        "datasets": datasets,
        "has_judge": bool(judged),
        "page_size": PAGE_SIZE,
        "rows": rows_out,
    }


def json_for_script(data: Any) -> Markup:
    """JSON safe inside <script type="application/json">: no '<' can start '</script' or '<!--'."""
    # JSON only has '<' inside strings, where \\u003c decodes back to '<' in JSON.parse
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    # Markup only stops the autoescaper from turning quotes into entities, which a script
    # element would not decode; the replace above is this context's escaping
    return Markup(text.replace("<", "\\u003c"))


class _CompiledTemplates(FileSystemBytecodeCache):
    """The report's templates compiled once, not in every process (about 0.1 s of each run).

    Jinja checks each entry against its template's source; its key ignores the environment's
    options, so only this module's environment uses the folder, which is named for the Jinja
    version. An entry that cannot be written (a read-only or full home) is simply not kept.
    """

    def dump_bytecode(self, bucket: Bucket) -> None:
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _template_cache() -> FileSystemBytecodeCache | None:
    folder = evalkit_home() / "templates" / f"jinja-{jinja2.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return _CompiledTemplates(str(folder))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_template_cache(),
    )
    env.filters.update(num=num, signed=signed, pct=pct, pvalue=pvalue, short=short_hash)
    return env


# what the sample browser reads from the per-sample table
_BROWSER_COLUMNS = ["arm", "dataset", "id", "input", "target", "output", "label", "correct",
                    "format_ok", "error", "parsed", "judge", "fields", "scores"]  # fmt: skip


def render_report(results: Results, table: pd.DataFrame | None) -> str:
    """The whole report page as one HTML string; without the per-sample table (a run folder
    that lost samples.jsonl) the sample browser is empty and says why."""
    results = redacted(results)
    gates = results.gates
    if gates:
        # failures first: they are what a reader has to act on
        order = {False: 0, None: 1, True: 2}  # failed, not evaluated, passed
        gates = gates.model_copy(
            update={"results": sorted(gates.results, key=lambda g: order[g.passed])}
        )
    generalisation = results.generalisation
    blob = redact(browser_rows(pd.DataFrame(columns=_BROWSER_COLUMNS) if table is None else table))
    context = {
        "r": results,
        "suite": results.suite,
        "arms": results.arms,
        "headline": headline(results),
        "gates": gates,
        "datasets": _datasets(results),
        "probes": results.probes,
        "generalisation": generalisation,
        "ood_names": list(
            dict.fromkeys(
                name
                for arm in (generalisation.arms.values() if generalisation else [])
                for name in arm.out_of_domain
            )
        ),
        "contamination": results.contamination,
        "contamination_shown": CONTAMINATION_SHOWN,
        "rubrics": results.rubrics,
        "economics": _economics(results),
        "stats": results.stats,
        "browser": json_for_script(blob),
        "browser_total": len(blob["rows"]),
        "browser_datasets": blob["datasets"],
        "has_judge": blob["has_judge"],
        "samples_missing": table is None,
        "history": history_view(results.history),
        "release": release_view(results.release),
        "field_tables": field_tables(results, table, _with_bars),
        "style_views": style_views(results, _with_bars),
        "memorisation": _with_bars(memorisation_rows(results)),
    }
    return _environment().get_template("report.html.j2").render(**context)


def render_release_page(decision: ReleaseDecision, title: str) -> str:
    """`evalkit compare --html`: the release decision as one self-contained page."""
    release = release_view(ReleaseDecision.model_validate(redact(decision.model_dump(mode="json"))))
    return _environment().get_template("compare.html.j2").render(title=title, release=release)


def write_html(path: Path, results: Results, table: pd.DataFrame | None) -> None:
    """Write the report next to results.json (atomically, like the other run files)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(render_report(results, table), encoding="utf-8", errors=WRITE_ERRORS)
    tmp.replace(path)
