"""Names every stage shares: the two arms, the sections of a run, the sets evalkit adds itself.

A leaf module: it imports nothing from evalkit, so any stage may use it without pointing
upward (tests/test_layers.py keeps it that way).
"""

from __future__ import annotations

import re
from typing import Literal

BASELINE = "baseline"
CANDIDATE = "candidate"
ARMS = (BASELINE, CANDIDATE)
ArmName = Literal["baseline", "candidate"]

# Sections of a run: the task's own datasets, the forgetting probes, the judge's tasks and the
# prompt-selection pass.
RECORDED = "recorded"  # an arm's model string when its outputs already exist (arms.<arm>.outputs)
TASK = "task"
PROBE = "probe"
JUDGE = "judge"
SELECTION = "selection"  # an arm's listed prompts on the selection split, before the report
Section = Literal["task", "probe"]

TRAINING_SAMPLE = "training_sample"  # training items both arms answer, next to held-out
TRAINING_KIND = "training"  # the kind of that set: a memorisation diagnostic, not a target
PROBES_PREFIX = "probes"  # metric paths of probes: probes.<pack>.<metric>
CUSTOM_PREFIX = "custom"  # a suite's own scorers name metrics custom.<name>, apart from evalkit's
REFUSAL_PREFIX = "refusal"  # scorers.refusal's metrics: refusal.string_match, refusal.judge
REFUSAL_ENTRY = "refusal_classifier"  # the judge column's key of a reply's refusal class
HUMAN = "human"  # people's ratings (evalkit review import): human.win_rate, human.<criterion>
# names evalkit gives its own sets, which no dataset or probe pack may take
RESERVED_NAMES = (TRAINING_SAMPLE, PROBES_PREFIX, HUMAN)

# Dataset, probe pack, rubric and criterion names: they name folders, metrics and gate paths.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
# A run id: one folder name under <out>/<suite>/ (no separators, no ".."; `latest` is the link)
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
