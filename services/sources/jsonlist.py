"""Reading the JSON arrays sources keep their progress in (TAILDIR positions, spooldir marks).

A damaged entry is skipped with a reason instead of failing the whole file: losing one file's
position must not send every other file back to its start.
"""
from __future__ import annotations

import json
from typing import Callable, TypeVar

Entry = TypeVar("Entry")


def load_entries(text: str, parse: Callable[[object], Entry | None],
                 error: type[Exception]) -> tuple[list[Entry], list[str]]:
    """(entries, a reason per skipped entry); `error` when the text is not a JSON array."""
    if not text.strip():
        return [], []
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise error(f"not JSON: {exc}") from exc
    if not isinstance(value, list):
        raise error("not a JSON array")
    entries, skipped = [], []
    for item in value:
        entry = parse(item)
        if entry is None:
            skipped.append(f"bad entry {item!r}")
        else:
            entries.append(entry)
    return entries, skipped
