"""Problem sets: JSON Lines files and the benchmark names math500, amc23, aime24, aime25.

A benchmark name resolves to `<data dir>/<name>.jsonl`, the data dir being the `data_dir`
argument, else the `ASTRO_DATA_DIR` environment variable, else `../shared/data` relative to
the working directory or to the repository root, whichever exists first. When none holds the
file, the Hugging Face hub dataset is loaded through `datasets` (when online).

Generated sets are also accepted as specs: `TASK[:n[:seed]]` for a registered task that
generates its own problems (`countdown:100:0`: `get_task("countdown").generate(100, 0)`), and
`synthetic[:n[:seed]]` for the MATH-style generator (defaults n=100, seed=0).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any, Iterable

from astro_env.errors import MissingFileError, UserError
from astro_env.hub import hub_unreachable_reason
from astro_env.problem import Problem

BENCHMARKS = ("math500", "amc23", "aime24", "aime25")
"""Benchmark names that `load_problems` and `benchmark_path` resolve."""

HUB_DATASETS: dict[str, tuple[str, str]] = {
    "math500": ("HuggingFaceH4/MATH-500", "test"),
    "amc23": ("math-ai/amc23", "test"),
    "aime24": ("HuggingFaceH4/aime_2024", "train"),
    "aime25": ("math-ai/aime25", "test"),
}
"""(hub dataset id, split) used when a benchmark is not found locally."""

TRAINING_SETS: dict[str, tuple[str, str]] = {
    "math_train": ("DigitalLearningGmbH/MATH-lighteval", "train"),
    "numinamath": ("AI-MO/NuminaMath-CoT", "train"),
}
"""Training problem sets loaded by name from the hub (answers taken from the solution's last box)."""

_REPO_ROOT = Path(__file__).resolve().parents[1]


def data_dirs(data_dir: str | os.PathLike | None = None) -> list[Path]:
    """The directories searched for benchmark files, in order (only the first given source applies).

    `data_dir` if given; else `$ASTRO_DATA_DIR` if set; else `../shared/data` relative to the
    working directory and to the repository root.
    """
    if data_dir is not None:
        return [Path(data_dir)]
    env = os.environ.get("ASTRO_DATA_DIR")
    if env:
        return [Path(env)]
    out = []
    for base in (Path.cwd(), _REPO_ROOT):
        candidate = (base / ".." / "shared" / "data").resolve()
        if candidate not in out:
            out.append(candidate)
    return out


def benchmark_path(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """Path of benchmark `name`'s local JSONL file.

    Raises ValueError for an unknown name and FileNotFoundError (listing the searched
    directories) when no data directory holds it.
    """
    if name not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {name!r}: use one of {', '.join(BENCHMARKS)} or a .jsonl path.")
    searched = data_dirs(data_dir)
    for directory in searched:
        path = directory / f"{name}.jsonl"
        if path.is_file():
            return path
    raise MissingFileError(
        f"benchmark {name!r} not found: no {name}.jsonl in {', '.join(str(d) for d in searched)}; "
        "set ASTRO_DATA_DIR to the directory holding the benchmark files."
    )


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of the file's bytes (recorded beside results to pin the data)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_problems(path: str | os.PathLike) -> list[Problem]:
    """Every Problem of a JSONL file (one object per line, blank lines skipped).

    A malformed line (not UTF-8, bad JSON, not an object, missing/empty `id`, `problem` or
    `answer`, a NaN answer, a field of the wrong type, a record its registered task's
    `validate_problem` rejects, such as Countdown `numbers`/`target` that are not integers) raises
    one `UserError` (a ValueError) naming the file and the line; duplicate ids likewise. A missing path raises `MissingFileError` (a ValueError and FileNotFoundError).
    Nothing is returned until the whole file has been checked.
    """
    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"problem file {path} does not exist; pass an existing .jsonl file or a benchmark name ({', '.join(BENCHMARKS)}).")
    if not path.is_file():
        raise UserError(f"problem file {path} is a directory; pass a .jsonl file with one problem per line.")
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    with path.open("rb") as fh:
        for line_no, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"{path}:{line_no}: not UTF-8 text; a problem file is JSON Lines in UTF-8, one object per line.") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{line_no}: malformed JSON line ({exc.msg}); write one JSON object per line.") from None
            if not isinstance(record, dict):
                raise UserError(f"{path}:{line_no}: expected a JSON object, got {type(record).__name__}.")
            missing = [k for k in ("id", "problem", "answer") if record.get(k) in (None, "")]
            if missing:
                raise UserError(f"{path}:{line_no}: missing or empty field(s) {', '.join(missing)}; every problem needs id, problem and answer.")
            try:
                problem = Problem.from_dict(record)
                _validate(problem)
            except (TypeError, ValueError) as exc:
                raise UserError(f"{path}:{line_no}: invalid problem record ({exc}).") from None
            if problem.id in seen:
                raise UserError(f"{path}:{line_no}: duplicate id {problem.id!r} (first on line {seen[problem.id]}); give each problem its own id.")
            seen[problem.id] = line_no
            problems.append(problem)
    return problems


def _validate(problem: Problem) -> None:
    """The problem's task's `validate_problem(problem)`, when the task is registered and has one (raises ValueError)."""
    check = getattr(_registered_task(problem.task), "validate_problem", None)
    if callable(check):
        check(problem)


@functools.lru_cache(maxsize=None)
def _registered_task(name: str) -> Any:
    """The task a registered name (or `name:argument`) stands for, None for any other name (never an import path)."""
    from astro_env import get_task
    from astro_env.registry import TASKS

    try:
        TASKS.split(name)
        return get_task(name)
    except (ValueError, TypeError, ImportError):
        return None


def write_problems(problems: Iterable[Problem], path: str | os.PathLike) -> Path:
    """Write `problems` as JSONL to `path` (replacing it atomically); `read_problems` inverts it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for problem in problems:
            fh.write(json.dumps(problem.to_dict(), ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def _hub_record(name: str, idx: int, row: dict[str, Any]) -> dict[str, Any]:
    """A Problem dict from a hub row (field names differ between the datasets)."""
    problem = row.get("problem") or row.get("question") or row.get("Problem")
    answer = row.get("answer") if row.get("answer") is not None else row.get("Answer")
    if answer is None and isinstance(row.get("solution"), str):  # MATH train, NuminaMath: the last box
        from astro_env.boxes import scan_boxes

        boxes = scan_boxes(row["solution"]).contents
        answer = boxes[-1] if boxes else None
    raw_id = row.get("unique_id") or row.get("id") or row.get("ID") or idx
    return {
        "id": f"{name}/{raw_id}" if name != "math500" else str(raw_id),
        "problem": problem,
        "answer": str(answer) if answer is not None else None,
        "solution": row.get("solution") or row.get("Solution"),
        "source": "{} ({})".format(*{**HUB_DATASETS, **TRAINING_SETS}[name]),
        "subject": row.get("subject"),
        "level": row.get("level"),
        "year": row.get("year") if isinstance(row.get("year"), int) else None,
    }


def load_from_hub(name: str) -> list[Problem]:
    """Benchmark `name` from its Hugging Face hub dataset (needs `datasets` and network).

    Raises RuntimeError with the fix (set ASTRO_DATA_DIR) when offline or unavailable; an
    unreachable hub is detected up front in about a second, not after the client's retries.
    """
    hub_id, split = {**HUB_DATASETS, **TRAINING_SETS}[name]
    fix = "set ASTRO_DATA_DIR to a directory with the benchmark .jsonl files, or pass a .jsonl path."
    reason = hub_unreachable_reason()
    if reason:
        raise RuntimeError(f"benchmark {name!r} is not available locally and the hub is unreachable ({reason}); {fix}")
    try:
        import datasets
    except ImportError:
        raise RuntimeError(f"benchmark {name!r} is not available locally and `datasets` is not installed; {fix}") from None
    try:
        rows = datasets.load_dataset(hub_id, split=split)
    except Exception as exc:  # network errors come in many types
        raise RuntimeError(f"benchmark {name!r} is not available locally and the hub dataset {hub_id} could not be loaded ({type(exc).__name__}: {exc}); {fix}") from None
    return [Problem.from_dict(_hub_record(name, idx, dict(row))) for idx, row in enumerate(rows)]


def _generated_kind(spec: str) -> str | None:
    """`kind` of a generated-set spec `kind[:n[:seed]]` (a registered task name, or "synthetic"), None otherwise."""
    from astro_env.registry import TASKS

    if spec.endswith(".jsonl"):
        return None
    kind = spec.split(":")[0]
    return kind if kind == "synthetic" or kind in TASKS.names() else None


def _parse_generated(spec: str) -> tuple[str, int, int]:
    """`kind[:n[:seed]]` -> (kind, n, seed); ValueError naming the form."""
    kind, *rest = spec.split(":")
    try:
        n = int(rest[0]) if rest else 100
        seed = int(rest[1]) if len(rest) > 1 else 0
    except ValueError:
        raise UserError(f"bad generated-set spec {spec!r}: use {kind}[:n[:seed]], e.g. {kind}:100:0.") from None
    if len(rest) > 2 or n < 0:
        raise UserError(f"bad generated-set spec {spec!r}: use {kind}[:n[:seed]] with n >= 0.")
    return kind, n, seed


def _generated(spec: str) -> list[Problem]:
    kind, n, seed = _parse_generated(spec)
    if kind == "synthetic":
        from astro_env.synthetic import generate_problems as generate_synthetic

        return generate_synthetic(n, seed)
    from astro_env import get_task

    try:
        task = get_task(kind)
    except TypeError as exc:
        raise UserError(f"problem set {spec!r}: task {kind!r} cannot be built without an argument ({exc}).") from None
    if not callable(getattr(task, "generate", None)):
        raise UserError(f"problem set {spec!r}: task {kind!r} generates no problems; pass a .jsonl file.")
    return task.generate(n, seed)


def load_problems(spec: str, data_dir: str | None = None, limit: int | None = None) -> list[Problem]:
    """The problems named by `spec`, at most `limit` of them (file order).

    `spec` is a benchmark name (math500, amc23, aime24, aime25: local file, else the hub),
    a path to a `.jsonl` file, or a generated set `TASK[:n[:seed]]` / `synthetic[:n[:seed]]`.
    Unknown names raise ValueError; malformed lines raise ValueError naming file and line.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit={limit}: use >= 0 or None for all problems.")
    if spec in BENCHMARKS:
        try:
            problems = read_problems(benchmark_path(spec, data_dir))
        except FileNotFoundError as exc:
            try:
                problems = load_from_hub(spec)
            except RuntimeError as hub_exc:
                raise MissingFileError(f"{exc} Hub fallback failed too: {hub_exc}") from None
    elif spec in TRAINING_SETS:
        problems = [p for p in _hub_training_set(spec) if p is not None]
    elif _generated_kind(spec) is not None:
        problems = _generated(spec)
    elif spec.endswith(".jsonl") or Path(spec).is_file():
        problems = read_problems(spec)
    else:
        raise ValueError(
            f"unknown problem set {spec!r}: use one of {', '.join(BENCHMARKS)}, a .jsonl path, "
            "or a generated set TASK[:n[:seed]] (e.g. countdown:100:0) / synthetic[:n[:seed]]."
        )
    return problems if limit is None else problems[:limit]


def _hub_training_set(name: str) -> list[Problem | None]:
    try:
        return load_from_hub(name)
    except RuntimeError as exc:
        raise FileNotFoundError(f"training set {name!r}: {exc} Or pass a local .jsonl file with --train-problems.") from None


def check_problem_spec(spec: str, data_dir: str | None = None) -> None:
    """Raise ValueError (one line, with the fix) unless `load_problems(spec)` can find what `spec` names.

    Cheap: reads no problem. A benchmark name needs its local file, or a reachable hub; a file
    must exist; a generated-set spec must parse; a hub training set needs the hub.
    """
    if spec in BENCHMARKS:
        try:
            benchmark_path(spec, data_dir)
        except FileNotFoundError as exc:
            reason = hub_unreachable_reason()
            if reason:
                raise UserError(f"{exc} The hub is unreachable ({reason}), so it cannot be downloaded either.") from None
        return
    if spec in TRAINING_SETS:
        reason = hub_unreachable_reason()
        if reason:
            raise UserError(f"training set {spec!r} comes from the hub, which is unreachable ({reason}): pass a local .jsonl file.")
        return
    if _generated_kind(spec) is not None:
        _parse_generated(spec)
        return
    if not Path(spec).is_file():
        raise UserError(
            f"problem set {spec!r}: no such file, and not a known name ({', '.join(BENCHMARKS + tuple(TRAINING_SETS))}, "
            "TASK[:n[:seed]] such as countdown:100:0, synthetic[:n[:seed]])."
        )
