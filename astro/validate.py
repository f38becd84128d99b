"""One validation path for every command: a command's config is checked completely before anything is written.

`validate(command, config)` is what each stage command (`astro.stage_command`) runs after parsing
and before its body, and what `astro run` (its `--dry-run` included) runs on the config of every
stage of its plan (`astro.run.check_environment`). It checks:

- values: every float of the config tree is finite (NaN and inf are refused, naming the flag);
- files and their schema: a problem set is read whole (a malformed line, a non-UTF-8 file, a
  directory, an empty file are refused naming the file), a tree file is read whole and must hold
  trees (a problems or traces file given instead is refused), a traces file likewise, and a file
  that differs from its manifest (cut short or changed since it was finished) is refused;
- components and their options: task, search agent (its options are parsed flags already),
  policy backends, GRPO engine;
- models: a local model directory must hold `config.json`; a hub id must be cached or the hub
  reachable (`astro run --dry-run` only checks local directories: a plan may name a model it
  cannot download here);
- the output location: `--out` must not be a file where a folder is written (or a folder where a
  file is), an existing output file must be of the kind written (a tree file for `astro search`),
  and the nearest existing folder must be writable.

Empty inputs are errors, except where a flag says otherwise (`astro linearize --allow-empty`).
Paths under `planned` (the run folder of a plan) are written by earlier stages and are only
checked for their location. Raises `UserError` with one line naming the flag or file and the fix.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from astro_env.errors import MissingFileError, UserError

__all__ = ["check_finite", "check_model", "check_out", "check_problems", "output_of", "validate"]


def _flag(path: tuple[str, ...]) -> str:
    return "--" + ".".join(name.replace("_", "-") for name in path)


def check_finite(config: Any, prefix: tuple[str, ...] = ()) -> None:
    """Raise UserError naming the flag of the first float field of `config` (walked as a tree) that is NaN or inf.

    A field whose default is itself not finite (a limit of inf meaning "none") may stay at that default.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        return
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        path = (*prefix, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_finite(value, path)
            continue
        values = value if isinstance(value, (list, tuple)) else (value,)
        for item in values:
            if isinstance(item, float) and not math.isfinite(item):
                default = f.default if f.default is not dataclasses.MISSING else None
                if isinstance(default, float) and not math.isfinite(default) and item == default:
                    continue
                raise UserError(f"{_flag(path)} {item}: not a number the run can use; give a finite value (see --help for its range).")


def _under(path: str | os.PathLike, planned: Path | None) -> bool:
    if planned is None or not str(path):
        return False
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(planned))
    except ValueError:
        return False
    return True


def check_out(flag: str, path: str, kind: str = "dir") -> None:
    """Raise UserError unless `path` can be written as a `kind` ("dir" or "file") output.

    Refused: an empty path; a file where a folder goes, a folder where a file goes; a file on the
    way to it; a nearest existing folder in which nothing can be created (read-only, no permission).
    """
    if not path:
        raise UserError(f"{flag} is empty: give the {'folder' if kind == 'dir' else 'file'} the output goes to.")
    target = Path(path)
    if target.exists():
        if kind == "dir" and not target.is_dir():
            raise UserError(f"{flag} {path}: a file is in the way; give a folder (a new or an earlier output folder).")
        if kind == "file" and target.is_dir():
            raise UserError(f"{flag} {path} is a folder; give the path of the output file (e.g. {path}/trees.jsonl).")
    probe = target if target.is_dir() else target.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag} {path}: {probe} is a file, so nothing can be written under it; give another location.")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot write in {probe} ({exc.strerror or exc}); choose a writable location.") from None


def check_problems(flag: str, spec: str, data_dir: str | None = None, *, planned: Path | None = None, allow_empty: bool = False,
                   local_only: bool = False) -> None:
    """Raise UserError unless the problem set `spec` loads: a file is read whole (schema, UTF-8, not empty, not a folder).

    A set name (math500, math_train, ...) needs its local file or a reachable hub, except with
    `local_only` (a dry run plans sets it does not download here).
    """
    from astro_env.loaders import BENCHMARKS, TRAINING_SETS, check_problem_spec, load_problems

    if _under(spec, planned) or (local_only and (spec in BENCHMARKS or spec in TRAINING_SETS)):
        return
    if Path(spec).is_dir():
        raise UserError(f"{flag} {spec} is a folder; pass a .jsonl file with one problem per line, or a set name ({', '.join(BENCHMARKS)}).")
    if not spec.endswith(".jsonl"):  # a file is read below, with its own message when it is missing
        try:
            check_problem_spec(spec, data_dir)
        except UserError as exc:
            raise UserError(f"{flag}: {exc}") from None
    if spec in BENCHMARKS or spec in TRAINING_SETS:
        return  # a named set: its file (or the hub) was found; its records are the benchmark's
    try:
        problems = load_problems(spec, data_dir=data_dir)
    except (UserError, FileNotFoundError) as exc:
        raise UserError(f"{flag}: {' '.join(str(exc).split())}") from None
    if not problems and not allow_empty:
        raise UserError(f"{flag} {spec} holds no problem; pass a file with at least one problem per line.")


def _check_problem_task(spec: str, task: str) -> None:
    """A problems file of another task than the run's is refused (what `astro problems` would find after writing)."""
    from astro_env.loaders import load_problems

    if not (spec.endswith(".jsonl") and Path(spec).is_file()):
        return
    other = [p for p in load_problems(spec) if p.task != task]
    if other:
        raise UserError(f"--task.train-problems {spec}: {len(other)} problems have a task other than {task!r} "
                        f"(first: {other[0].id}, task {other[0].task!r}); pass --task.name to match the file.")


def check_model(flag: str, name: str, *, planned: Path | None = None, local_only: bool = False) -> None:
    """Raise UserError unless `name` is a model directory (with config.json) or, unless `local_only`, a hub id that can be loaded."""
    from astro_env.hub import check_model_source, looks_like_path

    if not name or name == "oracle" or _under(name, planned):
        return
    if local_only and not (Path(name).exists() or looks_like_path(name)):
        return
    check_model_source(name, flag)


def _check_trees(flag: str, paths: tuple[str, ...], planned: Path | None, allow_empty: bool) -> None:
    from astro_env.jsonl import check_manifest
    from search.tree import read_trees

    for path in paths:
        if _under(path, planned):
            continue
        check_manifest(path, flag, "run the same `astro search` again to complete it.")
        read_trees(path, flag, allow_empty=allow_empty)


def _check_existing_trees_out(path: str) -> None:
    """An existing `astro search --out` must be a tree file (it is resumed), not some other file."""
    from astro_env.jsonl import iter_jsonl
    from search.tree import tree_record_error

    target = Path(path)
    if not target.is_file() or target.stat().st_size == 0:
        return
    try:
        for line_no, record in enumerate(iter_jsonl(target), start=1):
            why = tree_record_error(record)
            if why is not None:
                raise UserError(f"--out {path}: record {line_no}: {why}; --out must be a new file or a tree file to resume.")
    except UserError as exc:
        if str(exc).startswith("--out"):
            raise
        raise UserError(f"--out {path}: {exc} --out must be a new file or a tree file to resume.") from None


def _check_policy(prefix: str, policy: Any, planned: Path | None, local_only: bool) -> None:
    from astro_env.registry import POLICIES

    if policy.backend:
        try:
            POLICIES.check(policy.backend)
        except ValueError as exc:
            raise UserError(f"--{prefix}.backend: {exc}") from None
    check_model(f"--{prefix}.model", policy.model, planned=planned, local_only=local_only)


def _task(name: str, config: Any) -> None:
    import astro_env

    try:
        astro_env.get_task(name, config if not isinstance(config, dict) or config else None)
    except UserError:
        raise
    except (ValueError, TypeError, ImportError) as exc:
        raise UserError(f"--task {name!r}: {' '.join(str(exc).split())}") from None


# ----------------------------------------------------------------------------------------- per command


def _problems(job: Any, planned: Path | None, local_only: bool) -> None:
    spec = job.task
    _task(spec.name, spec.config)
    if spec.train_problems:
        check_problems("--task.train-problems", spec.train_problems, spec.data_dir or None, planned=planned, local_only=local_only)
        _check_problem_task(spec.train_problems, spec.name)
    for bench in spec.bench:
        check_problems("--task.bench", bench, spec.data_dir or None, planned=planned, local_only=local_only)
    check_out("--out", job.out, "dir")


def _pretrain(config: Any, planned: Path | None, local_only: bool) -> None:
    from training.embedded import corpus_task

    _task(config.task, None)
    task = corpus_task(config)  # UserError when the task supplies no corpus
    task.pretrain_corpus(1, config.seed)  # a task refuses a config it makes no corpus for (one line) here, not later
    check_out("--out", config.out, "dir")


def _search(job: Any, planned: Path | None, local_only: bool) -> None:
    from search.run import parse_shard

    check_out("--out", job.out, "file")
    _check_existing_trees_out(job.out)
    parse_shard(job.shard)
    if bool(job.problems) == bool(job.task):
        raise UserError("give exactly one of --problems NAME_OR_FILE or --task NAME --n-problems N.")
    if job.problems:
        check_problems("--problems", job.problems, job.data_dir or None, planned=planned, local_only=local_only)
    else:
        _task(job.task, job.task_config)
        if job.n_problems < 1:
            raise UserError(f"--n-problems {job.n_problems}: give how many problems --task {job.task} generates (>= 1).")
    if job.limit < 0:
        raise UserError(f"--limit {job.limit}: use >= 1 (the first N problems), or 0 for all.")
    _check_policy("policy", job.policy, planned, local_only)


def _linearize(job: Any, planned: Path | None, local_only: bool) -> None:
    if not job.trees:
        raise UserError("give the tree file(s) to linearize, e.g. `astro linearize trees.jsonl --out traces/`.")
    if not job.arms:
        raise UserError("--arms is empty: give astro and/or direct.")
    job.linearize.phrase_bank()
    _check_trees("tree file", job.trees, planned, job.allow_empty)
    if job.tokenizer and not _under(job.tokenizer, planned):
        from astro_env.hub import check_model_source

        if not local_only or Path(job.tokenizer).exists():
            check_model_source(job.tokenizer, "--tokenizer", markers=("tokenizer_config.json", "tokenizer.json", "config.json"))
    if job.self_eval:
        _check_policy("judge", job.judge, planned, local_only)
    check_out("--out", job.out, "dir")


def _sft(config: Any, planned: Path | None, local_only: bool) -> None:
    for name in ("traces", "model", "out"):
        if not getattr(config, name):
            raise UserError(f"--{name} is empty: SFT needs its traces, the model it starts from and an output folder.")
    if not _under(config.traces, planned):
        from training.data import load_traces

        load_traces(config.traces)
    check_model("--model", config.model, planned=planned, local_only=local_only)
    check_out("--out", config.out, "dir")


def _grpo(config: Any, planned: Path | None, local_only: bool) -> None:
    from astro_env.registry import POLICIES

    if not config.model:
        raise UserError("--model is empty: give the model GRPO starts from (a save_pretrained directory or a hub id).")
    check_model("--model", config.model, planned=planned, local_only=local_only)
    if config.problems:
        check_problems("--problems", config.problems, planned=planned, local_only=local_only)
    else:
        _task(config.task, config.task_config)
    try:
        POLICIES.check(config.backend)
    except ValueError as exc:
        raise UserError(f"--backend: {exc}") from None
    check_out("--out", config.out, "dir")


def _eval(job: Any, planned: Path | None, local_only: bool) -> None:
    if not job.eval.benches:
        raise UserError("--eval.benches is empty: give the sets to evaluate on (math500, a .jsonl file, countdown:100:0, ...).")
    for spec in job.eval.benches:
        check_problems("--eval.benches", spec, job.data_dir or None, planned=planned, local_only=local_only)
    if job.policy.model == "oracle":  # the backend is not used; a wrong one is still refused, never ignored
        _check_policy("policy", dataclasses.replace(job.policy, model=""), planned, local_only)
    else:
        _check_policy("policy", job.policy, planned, local_only)
    check_out("--out", job.out, "dir")


def _competence(job: Any, planned: Path | None, local_only: bool) -> None:
    for label, model in job.models.items():
        check_model(f"--models {label}", model, planned=planned, local_only=local_only)
    if job.problems:
        check_problems("--problems", job.problems, planned=planned, local_only=local_only)
    check_out("--out", job.out, "dir")


VALIDATORS: dict[str, Callable[[Any, Path | None, bool], None]] = {
    "problems": _problems, "pretrain": _pretrain, "search": _search, "linearize": _linearize, "sft": _sft,
    "grpo": _grpo, "eval": _eval, "competence": _competence,
}
"""The checks of each stage command beyond its config's own `__post_init__` (see the module docstring)."""


def validate(command: str, config: Any, planned: Path | None = None, *, local_only: bool = False) -> None:
    """Raise UserError (one line) unless `config` can run as `astro <command>` (see the module docstring)."""
    check_finite(config)
    check = VALIDATORS.get(command)
    if check is not None:
        try:
            check(config, planned, local_only)
        except MissingFileError as exc:
            raise UserError(" ".join(str(exc).split())) from None


OUTPUT_KINDS = {"search": "file"}
"""Commands whose `--out` is a file; every other stage command writes a folder."""


def output_of(command: str, config: Any) -> tuple[Path, str] | None:
    """(the output `config` writes, "file" or "dir"), None for a command without one."""
    out = getattr(config, "out", None)
    if not out:
        return None
    return Path(out), OUTPUT_KINDS.get(command, "dir")
