"""Append-only JSON Lines: one record per line, flushed per record, torn tails dropped.

Every stage of the pipeline writes through `JsonlWriter` and resumes through `read_jsonl`,
so a run killed at any moment (kill -9 included) loses at most the line being written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator


def read_jsonl(path: str | os.PathLike, *, drop_torn_tail: bool = True) -> list[dict[str, Any]]:
    """All records of `path` (an empty list if it does not exist).

    A last line without its newline, or that fails to parse, is a write torn by a crash:
    with `drop_torn_tail` it is ignored (and `repair_jsonl` removes it). A malformed line
    anywhere else raises ValueError naming the file and line number.
    """
    return list(iter_jsonl(path, drop_torn_tail=drop_torn_tail))


def iter_jsonl(path: str | os.PathLike, *, drop_torn_tail: bool = True) -> Iterator[dict[str, Any]]:
    """Iterate the records of `path`; see `read_jsonl`."""
    path = Path(path)
    if not path.exists():
        return
    with path.open("rb") as fh:
        data = fh.read()
    lines = data.split(b"\n")
    complete, tail = lines[:-1], lines[-1]
    for line_no, raw in enumerate(complete, start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if drop_torn_tail and line_no == len(complete) and not tail:
                # The last complete line is garbage: a crash mid-write followed by a newline is
                # impossible for our writer, so treat it as a torn tail too.
                return
            what = f"malformed JSON line ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            raise ValueError(f"{path}:{line_no}: {what}; the file should hold one JSON object per line") from None
        if not isinstance(record, dict):
            raise ValueError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}")
        yield record
    if tail.strip():
        try:
            record = json.loads(tail.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            if drop_torn_tail:
                return
            what = f"malformed JSON line ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            raise ValueError(f"{path}:{len(lines)}: {what}; the file should hold one JSON object per line") from None
        if drop_torn_tail:
            return  # no newline: the writer was killed before finishing this record
        yield record


def repair_jsonl(path: str | os.PathLike) -> int:
    """Truncate `path` after its last complete, parseable line; returns the bytes removed."""
    path = Path(path)
    if not path.exists():
        return 0
    data = path.read_bytes()
    keep = data.rfind(b"\n") + 1
    # drop a complete-but-garbage final line as well
    body = data[:keep]
    if body:
        prev = body.rstrip(b"\n").rfind(b"\n") + 1
        last = body[prev:].strip()
        if last:
            try:
                json.loads(last.decode("utf-8"))
            except (json.JSONDecodeError, UnicodeDecodeError):
                keep = prev
    removed = len(data) - keep
    if removed:
        with path.open("r+b") as fh:
            fh.truncate(keep)
    return removed


class JsonlWriter:
    """Appends records to a JSON Lines file, one `write` = one flushed (and fsynced) line.

    Opening repairs a torn tail left by a crash, so appending after a kill never glues a
    new record onto half an old one.
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        repair_jsonl(self.path)
        self._fh = self.path.open("a", encoding="utf-8")
        self._fsync = fsync

    def write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
        self._fh.write(line + "\n")
        self._fh.flush()
        if self._fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def __enter__(self) -> "JsonlWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write `obj` as pretty JSON atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
