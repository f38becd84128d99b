"""Append-only JSON Lines: one record per line, flushed per record, torn tails dropped and reported;
manifests that say a file is complete.

Every stage of the pipeline writes through `JsonlWriter` and resumes through `read_jsonl`,
so a run killed at any moment (kill -9 included) loses at most the line being written. A
writer that finishes a file records its manifest (`write_manifest`: the number of records, the
bytes and the SHA-256 beside it, `NAME.manifest.json`); a reader calls `check_manifest`, which
refuses a file that differs from its manifest (cut short, or changed by hand).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any, Iterator

from astro_env.errors import UserError


def read_jsonl(path: str | os.PathLike, *, drop_torn_tail: bool = True) -> list[dict[str, Any]]:
    """All records of `path` (an empty list if it does not exist).

    A last line without its newline, or that fails to parse, is a write torn by a crash:
    with `drop_torn_tail` it is ignored (said on stderr) (and `repair_jsonl` removes it). A malformed line
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
            what = f"malformed JSON line ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            if drop_torn_tail and line_no == len(complete) and not tail:
                # The last complete line is garbage: treated as a torn tail too, and said so.
                _report_dropped(path, line_no, what)
                return
            raise UserError(f"{path}:{line_no}: {what}; the file should hold one JSON object per line.") from None
        if not isinstance(record, dict):
            raise UserError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}; the file should hold one JSON object per line.")
        yield record
    if tail.strip():
        try:
            record = json.loads(tail.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            what = f"malformed JSON line ({exc.msg})" if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
            if drop_torn_tail:
                _report_dropped(path, len(lines), f"an unfinished last line, {what}")
                return
            raise UserError(f"{path}:{len(lines)}: {what}; the file should hold one JSON object per line.") from None
        if drop_torn_tail:
            _report_dropped(path, len(lines), "a last line without its newline")
            return  # no newline: the writer was killed before finishing this record
        yield record


def _report_dropped(path: Path, line_no: int, what: str) -> None:
    """Say on stderr that a torn or garbage last line is ignored (never dropped silently)."""
    print(f"{path}:{line_no}: {what}; this last line is ignored as a write cut short.", file=sys.stderr)


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


MANIFEST_SUFFIX = ".manifest.json"


def manifest_path(path: str | os.PathLike) -> Path:
    """Where the manifest of `path` goes: `traces.jsonl` -> `traces.jsonl.manifest.json`."""
    path = Path(path)
    return path.with_name(path.name + MANIFEST_SUFFIX)


def file_summary(path: str | os.PathLike) -> dict[str, Any]:
    """{"n_records", "bytes", "sha256"} of a JSON Lines file as it is on disk (n_records: non-blank lines)."""
    digest = hashlib.sha256()
    n_bytes = n_lines = 0
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
            n_bytes += len(block)
    with open(path, "rb") as fh:
        n_lines = sum(1 for line in fh if line.strip())
    return {"n_records": n_lines, "bytes": n_bytes, "sha256": digest.hexdigest()}


def write_manifest(path: str | os.PathLike, **extra: Any) -> dict[str, Any]:
    """Record that `path` is complete: its manifest (count, bytes, SHA-256, and `extra`) beside it, written atomically."""
    summary = {"file": Path(path).name, **file_summary(path), **extra}
    write_json(manifest_path(path), summary)
    return summary


def remove_manifest(path: str | os.PathLike) -> None:
    """Drop the manifest of `path` (before the file changes: an unfinished file has none)."""
    try:
        manifest_path(path).unlink()
    except FileNotFoundError:
        pass


def read_manifest(path: str | os.PathLike) -> dict[str, Any] | None:
    """The manifest of `path`, None when there is none (a file still being written, or made by hand)."""
    try:
        data = json.loads(manifest_path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        raise UserError(f"{manifest_path(path)}: unreadable manifest; delete it and write {path} again.") from None
    return data if isinstance(data, dict) else None


def manifest_mismatch(path: str | os.PathLike) -> str | None:
    """Why `path` does not match its manifest (e.g. "holds 207 records, its manifest 401"), None when it matches or has none."""
    manifest = read_manifest(path)
    if manifest is None:
        return None
    if not Path(path).is_file():
        return "is missing"
    now = file_summary(path)
    if now["sha256"] == manifest.get("sha256"):
        return None
    if now["n_records"] != manifest.get("n_records"):
        return f"holds {now['n_records']} records where its manifest records {manifest.get('n_records')}"
    return f"holds {now['bytes']} bytes of other content than its manifest records (sha256 {str(manifest.get('sha256'))[:12]}...)"


def check_manifest(path: str | os.PathLike, flag: str, fix: str) -> None:
    """Raise UserError (one line naming `flag`, the file and `fix`) when `path` differs from its manifest."""
    why = manifest_mismatch(path)
    if why is not None:
        raise UserError(f"{flag} {path} {why}: it was cut short or changed after it was written; {fix}")
