"""The rating page's items as a Label Studio project: tasks in its JSON import format and a
labeling config that shows the two answers blind as A and B.

Each task's data keeps the hidden order (`evalkit_order`) with the item's name, so that
`evalkit.data.labelstudio` can turn the project's JSON export back into ratings.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import quoteattr

from evalkit.credentials import redact
from evalkit.data.labelstudio import NOTE, PREFERENCE, SCORE_PREFIX, TIE
from evalkit.report.review import Review, ReviewCriterion

TASKS_FILE = "tasks.json"
CONFIG_FILE = "labeling_config.xml"


def labelstudio_tasks(review: Review) -> list[dict[str, Any]]:
    """One task per item: `{"data": {...}}`, the fields the labeling config names."""
    return redact(
        [
            {
                "data": {
                    "prompt": item.input,
                    "answer_a": item.outputs[0],
                    "answer_b": item.outputs[1],
                    "reference": item.reference,
                    "evalkit_run_id": review.run_id,
                    "evalkit_dataset": item.dataset,
                    "evalkit_item_id": item.item_id,
                    "evalkit_order": list(item.order),
                }
            }
            for item in review.items
        ]
    )


def _score_control(c: ReviewCriterion, side: str, object_name: str) -> str:
    name = quoteattr(f"{SCORE_PREFIX}{side}_{c.name}")
    if c.min == 1:  # Label Studio's Rating runs 1..maxRating
        return f'<Rating name={name} toName="{object_name}" maxRating="{c.max}"/>'
    return f'<Number name={name} toName="{object_name}" min="{c.min}" max="{c.max}"/>'


def labelstudio_config(review: Review) -> str:
    """The labeling config XML: the input, answers A and B side by side, the preference
    (A, B or Tie) and, with a rubric, a score per criterion per answer."""
    criteria = list({c.name: c for cs in review.criteria.values() for c in cs}.values())
    lines = [
        "<View>",
        '  <Header value="Input"/>',
        '  <Text name="prompt" value="$prompt"/>',
    ]
    if any(item.reference for item in review.items):
        lines += [
            '  <Header value="Reference answer"/>',
            '  <Text name="reference" value="$reference"/>',
        ]
    lines += [
        '  <View style="display: flex; gap: 1em;">',
        '    <View style="flex: 1; min-width: 0;">',
        '      <Header value="Answer A"/>',
        '      <Text name="answer_a" value="$answer_a"/>',
        "    </View>",
        '    <View style="flex: 1; min-width: 0;">',
        '      <Header value="Answer B"/>',
        '      <Text name="answer_b" value="$answer_b"/>',
        "    </View>",
        "  </View>",
        '  <Header value="Which answer is better?"/>',
        f'  <Choices name="{PREFERENCE}" toName="prompt" choice="single-radio" showInline="true" '
        'required="true">',
        '    <Choice value="A"/>',
        '    <Choice value="B"/>',
        f'    <Choice value="{TIE}"/>',
        "  </Choices>",
    ]
    for c in criteria:
        about = f"{c.name}: {c.description}" if c.description else c.name
        lines.append(f'  <Header value={quoteattr(about)} size="5"/>')
        lines.append(f'  <Header value={quoteattr(f"{c.name}, answer A")} size="6"/>')
        lines.append("  " + _score_control(c, "A", "answer_a"))
        lines.append(f'  <Header value={quoteattr(f"{c.name}, answer B")} size="6"/>')
        lines.append("  " + _score_control(c, "B", "answer_b"))
    lines += [
        '  <Header value="Note (optional)" size="6"/>',
        f'  <TextArea name="{NOTE}" toName="prompt" maxSubmissions="1"/>',
        "</View>",
    ]
    return "\n".join(lines) + "\n"
