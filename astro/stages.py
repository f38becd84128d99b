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
        """True when stage `name` finished with exactly `key`."""
        marker = read_marker(self.run_dir / name)
        return marker is not None and marker["key_hash"] == config_hash(key) and marker.get("status") == "done"

    def __call__(self, name: str, key: dict[str, Any], body: Callable[[Path], Any]) -> Path:
        out = self.run_dir / name
        digest = config_hash(key)
        marker = read_marker(out)
        if marker is not None and marker["key_hash"] == digest and marker.get("status") == "done":
            log.info("stage %-16s done already (key %s), skipped", name, digest)
            self.timings.setdefault(name, 0.0)
            return out
        if out.exists() and (marker is None or marker["key_hash"] != digest):
            if marker is not None:
                log.warning("stage %s: its config or inputs changed (key %s -> %s); clearing it and running it again", name, marker["key_hash"], digest)
            shutil.rmtree(out)
        resumed = out.exists()
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / MARKER, {"stage": name, "key_hash": digest, "status": "running", "key": key})
        log.info("stage %-16s %s", name, "resuming" if resumed else "running")
        start = time.perf_counter()
        body(out)
        seconds = time.perf_counter() - start
        self.timings[name] = seconds
        write_json(out / MARKER, {"stage": name, "key_hash": digest, "status": "done", "key": key, "seconds": round(seconds, 2)})
        log.info("stage %-16s finished in %.1fs", name, seconds)
        return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """An exclusive claim on a run folder: a lock file holding the owner's pid.

    A lock left by a dead process is taken over (with a warning); one held by a live process is
    refused with RunFolderBusy naming the pid. Released on exit from the `with` block.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK
        self.held = False

    def acquire(self) -> None:
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
                        f"run folder {self.path.parent} is in use by process {owner}; wait for it, stop it, or use another --out."
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

    def release(self) -> None:
        if self.held:
            try:
                self.path.unlink()
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
            self.held = False

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
