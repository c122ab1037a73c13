"""One line per figure in bench/results.jsonl, so runs can be compared; printed as well."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.jsonl")


def report(name: str, value: float, unit: str, target: str, met: bool) -> None:
    """Print the figure beside its target and append it to results.jsonl.

    `target` is human-readable, e.g. "< 50 ms" or ">= 25 msg/s".
    """
    line = {
        "name": name,
        "value": round(value, 3),
        "unit": unit,
        "target": target,
        "met": met,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
    }
    with RESULTS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
    verdict = "met" if met else "MISSED"
    print(f"\n[bench] {name}: {value:,.3f} {unit} (target {target}: {verdict})", flush=True)
