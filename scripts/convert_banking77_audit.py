"""Convert banking77's full training set to evalkit rows for the audit's truth test.

    python scripts/convert_banking77_audit.py [--shared ../shared/data] \
        [--out tests/reference/audit/banking77_train.jsonl]

Every row of `banking77/train.csv`, unchanged and in file order, as {"id", "input", "target"};
the id is `b77-train-<n>`, n the 0-based data row (as in suites/banking77/SOURCE.md).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--shared", type=Path, default=Path("../shared/data"))
    p.add_argument("--out", type=Path, default=Path("tests/reference/audit/banking77_train.jsonl"))
    args = p.parse_args()
    with (args.shared / "banking77" / "train.csv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as f:
        for n, row in enumerate(rows):
            item = {"id": f"b77-train-{n}", "input": row["text"], "target": row["category"]}
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
