"""Build suites/banking77/data/ from the shared copies of banking77 and CLINC150 (seeded).

    python scripts/build_demo_data.py [--shared ../shared/data] [--out suites/banking77/data]

The task: 8 banking77 intents plus `other`. Five of the eight have a CLINC150 intent that
asks the same thing, which gives an out-of-domain set for the same task (a distribution
shift); CLINC150's out-of-scope queries give a second one whose answer is always `other`.
Every held-out and out-of-domain input whose normalised text also occurs in the training or
few-shot file is dropped, and the script checks and prints that none is left.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
from pathlib import Path

SEED = 77
OTHER = "other"

# banking77 intent -> the CLINC150 intent that asks the same question (None: no clean match)
INTENTS: dict[str, str | None] = {
    "lost_or_stolen_card": "report_lost_card",
    "change_pin": "pin_change",
    "exchange_rate": "exchange_rate",
    "card_about_to_expire": "expiration_date",
    "declined_card_payment": "card_declined",
    "activate_my_card": None,
    "terminate_account": None,
    "apple_pay_or_google_pay": None,
}

# banking77 intents too close to a chosen one to be an honest `other` (a human would file
# "someone used my card details" or "why is my PIN blocked" under the chosen intent).
NEIGHBOURS = {
    "compromised_card",
    "lost_or_stolen_phone",
    "pin_blocked",
    "passcode_forgotten",
    "exchange_charge",
    "exchange_via_app",
    "card_payment_wrong_exchange_rate",
    "wrong_exchange_rate_for_cash_withdrawal",
    "declined_cash_withdrawal",
    "declined_transfer",
    "card_not_working",
    "card_acceptance",
    "get_physical_card",
    "card_linking",
}

TRAIN_PER_INTENT = 20
TRAIN_OTHER = 40
FEWSHOT_PER_LABEL = 2
HELDOUT_PER_INTENT = 20
HELDOUT_OTHER = 40
OOD_PER_INTENT = 20
OOD_OOS = 100


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.strip().lower())


def read_banking(path: Path) -> list[tuple[int, str, str]]:
    """(row number, text, category) for each row of a banking77 CSV."""
    with path.open(newline="") as f:
        return [(i, r["text"], r["category"]) for i, r in enumerate(csv.DictReader(f))]


def take(rng: random.Random, rows: list, n: int) -> list:
    return rng.sample(rows, min(n, len(rows)))


def row(id_: str, text: str, target: str) -> dict[str, str]:
    return {"id": id_, "input": text.strip(), "target": target}


def build(shared: Path) -> dict[str, list[dict[str, str]]]:
    rng = random.Random(SEED)
    train_csv = read_banking(shared / "banking77" / "train.csv")
    test_csv = read_banking(shared / "banking77" / "test.csv")
    unknown = set(INTENTS) - {c for _, _, c in train_csv}
    assert not unknown, f"not banking77 intents: {unknown}"
    others = {c for _, _, c in train_csv} - set(INTENTS) - NEIGHBOURS

    def label(category: str) -> str:
        return category if category in INTENTS else OTHER

    # training and few-shot items: disjoint rows of banking77 train.csv
    train, fewshot = [], []
    for intent in INTENTS:
        pool = [r for r in train_csv if r[2] == intent]
        picked = take(rng, pool, TRAIN_PER_INTENT + FEWSHOT_PER_LABEL)
        fewshot += picked[:FEWSHOT_PER_LABEL]
        train += picked[FEWSHOT_PER_LABEL:]
    other_pool = [r for r in train_csv if r[2] in others]
    picked = take(rng, other_pool, TRAIN_OTHER + FEWSHOT_PER_LABEL)
    fewshot += picked[:FEWSHOT_PER_LABEL]
    train += picked[FEWSHOT_PER_LABEL:]
    seen = {norm(t) for _, t, _ in train + fewshot}

    def unseen(rows: list) -> list:
        return [r for r in rows if norm(r[1]) not in seen]

    heldout = []
    for intent in INTENTS:
        heldout += take(rng, unseen([r for r in test_csv if r[2] == intent]), HELDOUT_PER_INTENT)
    heldout += take(rng, unseen([r for r in test_csv if r[2] in others]), HELDOUT_OTHER)

    clinc = json.loads((shared / "clinc150" / "data_full.json").read_text())
    to_b77 = {c: b for b, c in INTENTS.items() if c}
    ood_banking = []
    for clinc_intent, b77 in to_b77.items():
        pool = [(i, t, b77) for i, (t, c) in enumerate(clinc["test"]) if c == clinc_intent]
        ood_banking += take(rng, unseen(pool), OOD_PER_INTENT)
    oos = [(i, t, OTHER) for i, (t, _) in enumerate(clinc["oos_test"])]
    ood_oos = take(rng, unseen(oos), OOD_OOS)

    files = {
        "train": [row(f"b77-train-{i}", t, label(c)) for i, t, c in train],
        "fewshot": [row(f"b77-train-{i}", t, label(c)) for i, t, c in fewshot],
        "heldout": [row(f"b77-test-{i}", t, label(c)) for i, t, c in heldout],
        "ood_clinc_banking": [row(f"clinc-test-{i}", t, c) for i, t, c in ood_banking],
        "ood_clinc_oos": [row(f"clinc-oos-test-{i}", t, c) for i, t, c in ood_oos],
    }
    # Shuffle so that a suite's `limit: N` (first N rows) still sees every label.
    for name, rows in files.items():
        if name != "fewshot":  # few-shot keeps label order: the prompt lists them grouped
            rng.shuffle(rows)
    return files


def check_disjoint(files: dict[str, list[dict[str, str]]]) -> None:
    """Fail unless no evaluation input occurs (normalised) in the training or few-shot file."""
    seen = {norm(r["input"]) for name in ("train", "fewshot") for r in files[name]}
    for name in ("heldout", "ood_clinc_banking", "ood_clinc_oos"):
        leaked = [r["id"] for r in files[name] if norm(r["input"]) in seen]
        print(f"{name}: {len(files[name])} rows, {len(leaked)} also in train/fewshot")
        assert not leaked, f"{name} leaks training text: {leaked[:5]}"
    ids = [
        r["id"] for name in ("heldout", "ood_clinc_banking", "ood_clinc_oos") for r in files[name]
    ]
    assert len(ids) == len(set(ids)), "duplicate ids"


def main() -> None:
    root = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=root.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=root / "suites" / "banking77" / "data")
    args = parser.parse_args()
    files = build(args.shared)
    check_disjoint(files)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "labels.txt").write_text("\n".join([*INTENTS, OTHER]) + "\n")
    for name, rows in files.items():
        with (args.out / f"{name}.jsonl").open("w") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
        print(f"wrote {args.out / name}.jsonl ({len(rows)} rows)")


if __name__ == "__main__":
    main()
