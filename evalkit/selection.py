"""Prompt selection: before the reported run, each arm's listed prompts on the selection split.

A stage of its own between loading the suite and planning the reported tasks. It plans one
task per (arm, prompt) on the selection split, sends it through the same engine, journal and
cache as every other request (the tasks are named `<arm>__selection__<prompt>`), scores the
answers like any run, and keeps each arm's best prompt. Only the chosen prompt ever meets a
reported item. A re-run of an unchanged suite answers the selection requests from the cache,
and `--resume` sends only those the journal lacks: the same answers choose the same prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from evalkit.analysis.analyse import primary_metric
from evalkit.analysis.selection import leaderboard
from evalkit.analysis.table import build_table
from evalkit.errors import InputError
from evalkit.results import PromptSelection
from evalkit.run.execute import ExecSettings, execute
from evalkit.run.plan import Shard, plan_selection, plan_suite
from evalkit.suite.load import LoadedSuite


@dataclass(frozen=True)
class Selected:
    loaded: LoadedSuite  # the suite with each arm's chosen prompt
    result: PromptSelection
    table: pd.DataFrame  # the selection pass's scored rows (selection_samples.jsonl)


def check_selection(loaded: LoadedSuite, shard: Shard | None = None) -> None:
    """Before any model call: selection can score its metric, and every listed prompt renders
    every selection item and every reported item (the one chosen is known only later)."""
    if not loaded.prompt_options:
        return
    metric = primary_metric(loaded)
    if metric.startswith("rubric."):
        raise InputError(
            f"prompt selection chooses by the primary metric, here the judge's {metric}, "
            "and does not run the judge on the selection split; list one prompt, or drop "
            "the rubric from heldout",
            path=loaded.path,
            where="selection",
        )
    plan_selection(loaded)
    for arm, options in loaded.prompt_options.items():
        for option in options[1:]:  # the first already stands in loaded.prompts
            plan_suite(loaded.with_prompts({arm: option.name}), shard)


def select_prompts(loaded: LoadedSuite, settings: ExecSettings) -> Selected | None:
    """Run the selection pass and choose; None when no arm lists prompts."""
    if not loaded.prompt_options:
        return None
    plan = plan_selection(loaded)
    table = build_table(plan, execute(plan, settings), loaded)
    result = leaderboard(table, loaded, primary_metric(loaded))
    return Selected(loaded.with_prompts(result.chosen), result, table)
