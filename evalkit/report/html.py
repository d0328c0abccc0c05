"""HTML report (being written)."""

import html
import json
from pathlib import Path
from typing import Any

import pandas as pd


def write_html(path: Path, results: dict[str, Any], table: pd.DataFrame) -> None:
    path.write_text(
        "<pre>" + html.escape(json.dumps(results["verdict"])) + "</pre>", encoding="utf-8"
    )
