"""Stages of a run folder: skipped when done with the same key, cleared when their key changed,
resumed when killed; and the lock that gives a run folder to one process at a time."""

from __future__ import annotations

import dataclasses
import errno
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from astro.config import config_hash
from astro_env.errors import UserError
from astro_env.jsonl import write_json

log = logging.getLogger("astro.run")

MARKER = "stage.json"
LOCK = ".astro.lock"


class RunFolderBusy(UserError):
    """Another live process owns the run folder."""


def read_marker(stage_dir: Path) -> dict[str, Any] | None:
    """The stage's marker (`{"key_hash", "status", ...}`), None when absent or unreadable (a torn write)."""
    try:
        data = json.loads((stage_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "key_hash" in data else None


def stage_hash(stage_dir: Path) -> str | None:
    """The key hash of a finished stage (what a stage reading its output keys on), None if unfinished."""
    marker = read_marker(stage_dir)
    return marker["key_hash"] if marker and marker.get("status") == "done" else None


def stage_key(command: str, config: Any, inputs: tuple[str, ...], run_dir: Path) -> dict[str, Any]:
    """The key of a stage of kind `command` (`astro <command>`) receiving `config` and reading `inputs`.

    Its config (fields declared `compare=False`, which do not change the result, such as the
    executor, left out; paths inside the run folder written relative to it), the key hash of
    every stage it reads, and for the stages whose output writes the phrase bank (pre-training,
    linearisation) the phrase bank's text. A stage launched from its config file and the same
    stage in process compute the same key.
    """
    key: dict[str, Any] = {"config": _key_view(config, str(run_dir)), "inputs": {n: stage_hash(Path(run_dir) / n) for n in inputs}}
    if command in ("pretrain", "linearize"):
        from search.verbalize import PhraseBank, phrase_fragments

        if command == "pretrain":  # the base's corpus writes the task's comparisons; the phrases are single tokens
            import astro_env
            from astro_env.task import outcome_phrases

            outcomes = outcome_phrases(astro_env.get_task(config.task, config.task_config))
            key["phrases"] = {"bank": dataclasses.asdict(PhraseBank()), "outcomes": dataclasses.asdict(outcomes) if dataclasses.is_dataclass(outcomes) else None,
                              "tokens": phrase_fragments(outcomes=[outcomes] if outcomes is not None else [])}
        else:
            key["phrases"] = dataclasses.asdict(config.linearize.phrase_bank())
    return key


def _key_view(obj: Any, run_dir: str) -> Any:
    """`obj` as JSON-ready data for a key: fields with `compare=False` left out, paths under `run_dir` relative to it."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _key_view(getattr(obj, f.name), run_dir) for f in dataclasses.fields(obj) if f.compare}
    if isinstance(obj, (list, tuple)):
        return [_key_view(x, run_dir) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _key_view(v, run_dir) for k, v in obj.items()}
    if isinstance(obj, str):
        root = run_dir.rstrip(os.sep)
        if obj == root:
            return "."
        if obj.startswith(root + os.sep):
            return obj[len(root) + 1:]
    return obj


@dataclass
class StageRunner:
    """Runs named stages under `run_dir`.

    A stage's folder holds `stage.json` with the hash of its key (what it consumes, including the
    hashes of the stages it reads). Done with the same hash: skipped. Started with the same hash
    but not finished (killed): its body runs again over its partial output, which the long stages
    resume. Any other hash, or a folder without a marker: the folder is removed and the stage runs
    from scratch, so nothing of an earlier configuration survives into the new result.
    """

    run_dir: Path
    timings: dict[str, float] = field(default_factory=dict)

    def is_done(self, name: str, key: dict[str, Any]) -> bool:
        """True when stage `name` finished with exactly `key` and its output is still what it wrote."""
        marker = read_marker(self.run_dir / name)
        done = marker is not None and marker["key_hash"] == config_hash(key) and marker.get("status") == "done"
        return done and output_changed(self.run_dir / name, marker) is None

    def __call__(self, name: str, key: dict[str, Any], body: Callable[[Path], Any]) -> Path:
        out = self.run_dir / name
        digest = config_hash(key)
        marker = read_marker(out)
        if marker is not None and marker["key_hash"] == digest and marker.get("status") == "done":
            changed = output_changed(out, marker)
            if changed is None:
                log.info("stage %-16s done already (key %s), skipped", name, digest)
                self.timings.setdefault(name, 0.0)
                return out
            log.warning("stage %s: its output changed since it finished (%s); clearing it and running it again", name, changed)
            marker = None
        if out.exists() and (marker is None or marker["key_hash"] != digest):
            if marker is not None:
                log.warning("stage %s: its config or inputs changed (key %s -> %s); clearing it and running it again", name, marker["key_hash"], digest)
            clear_folder(out)
        resumed = out.exists() and any(p.name != MARKER and not is_lock_file(p) for p in out.iterdir())
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / MARKER, {"stage": name, "key_hash": digest, "status": "running", "key": key})
        log.info("stage %-16s %s", name, "resuming" if resumed else "running")
        start = time.perf_counter()
        body(out)
        seconds = time.perf_counter() - start
        self.timings[name] = seconds
        write_json(out / MARKER, {"stage": name, "key_hash": digest, "status": "done", "key": key, "seconds": round(seconds, 2),
                                  "files": output_files(out)})
        log.info("stage %-16s finished in %.1fs", name, seconds)
        return out


HASHED_SUFFIXES = (".jsonl", ".json")
"""Output files whose SHA-256 a finished stage records (records and small summaries); other files
(model weights, logs) are recorded by size, which a file cut short changes too."""


def _walk(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MARKER and not is_lock_file(p) and not p.name.endswith(".tmp"))


def output_files(folder: Path) -> dict[str, dict[str, Any]]:
    """{relative path: {"bytes", "sha256" (records and summaries only)}} of what a stage wrote into `folder`."""
    from astro_env.loaders import file_sha256

    files = {}
    for path in _walk(folder):
        entry: dict[str, Any] = {"bytes": path.stat().st_size}
        if path.name.endswith(HASHED_SUFFIXES):
            entry["sha256"] = file_sha256(path)
        files[path.relative_to(folder).as_posix()] = entry
    return files


def output_changed(folder: Path, marker: dict[str, Any]) -> str | None:
    """What differs between a finished stage's folder and the files its marker records (None: nothing, or no record)."""
    recorded = marker.get("files")
    if not isinstance(recorded, dict):
        return None
    from astro_env.loaders import file_sha256

    for rel, entry in sorted(recorded.items()):
        path = folder / rel
        if not path.is_file():
            return f"{rel} is missing"
        if path.stat().st_size != entry.get("bytes"):
            return f"{rel} holds {path.stat().st_size} bytes, {entry.get('bytes')} were written"
        if "sha256" in entry and file_sha256(path) != entry["sha256"]:
            return f"{rel} was changed"
    return None


def is_lock_file(path: Path) -> bool:
    """True for a lock file (`.astro.lock`, `.NAME.astro.lock`): clearing a stage keeps its owner's claim."""
    return path.name == LOCK or (path.name.startswith(".") and path.name.endswith(LOCK))


def clear_folder(folder: Path) -> None:
    """Remove everything in `folder` but lock files (a process holding the folder keeps its lock)."""
    for path in folder.iterdir():
        if is_lock_file(path):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive claim on a run folder or an output file: a lock file holding the owner's pid.

    `RunLock(folder)` holds `folder/.astro.lock` (what `astro run` and every command writing a
    folder take); `RunLock.for_file(path)` holds `.NAME.astro.lock` beside an output file (what
    `astro search` takes on its trees file). A lock left by a dead process is taken over (with a
    warning); one held by a live process is refused with RunFolderBusy naming the pid. Released
    on exit from the `with` block.
    """

    def __init__(self, run_dir: Path, lock_path: Path | None = None) -> None:
        self.path = Path(lock_path) if lock_path is not None else Path(run_dir) / LOCK
        self.held = False

    @classmethod
    def for_file(cls, path: str | os.PathLike) -> "RunLock":
        """The lock of an output file: `.NAME.astro.lock` in its folder."""
        path = Path(path)
        return cls(path.parent, path.with_name(f".{path.name}{LOCK}"))

    def acquire(self) -> None:
        missing = [p for p in (self.path.parent, *self.path.parent.parents) if not p.exists()]
        self._made = missing[::-1]  # folders this lock created: removed on release when nothing else went in
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    owner = int(self.path.read_text().strip() or "0")
                except (OSError, ValueError):
                    owner = 0
                if owner and owner != os.getpid() and _alive(owner):
                    raise RunFolderBusy(
                        f"{self._what()} is in use by process {owner}; wait for it, stop it, or use another --out."
                    ) from None
                log.warning("taking over the lock of %s left by process %s, which is gone", self.path.parent, owner or "?")
                try:
                    self.path.unlink()
                except FileNotFoundError:
                    pass
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            self.held = True
            return
        raise RunFolderBusy(f"could not lock {self.path.parent}: another process keeps claiming it; use another --out.")

    def _what(self) -> str:
        if self.path.name == LOCK:
            return f"run folder {self.path.parent}"
        return f"output {self.path.with_name(self.path.name[1:-len(LOCK)])}"

    def release(self) -> None:
        if self.held:
            try:
                self.path.unlink()
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
            self.held = False
            for folder in reversed(getattr(self, "_made", [])):
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty: the command wrote its output there

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
