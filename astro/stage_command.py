"""What every stage command shares: parse its config, run it, and under `--config STAGE_FILE` run it as
that stage of its run folder (keyed, marked done, skipped when done already), exactly as `astro run` does."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from astro.args import parse_command

__all__ = ["run_stage_command"]


@contextlib.contextmanager
def _output_lock(command: str, config: Any) -> Iterator[None]:
    """Hold the lock of what `config` writes while the body runs (nothing for a launcher's other ranks)."""
    from astro.stages import RunLock
    from astro.validate import output_of

    target = output_of(command, config)
    if target is None or os.environ.get("RANK", "0") != "0":
        yield
        return
    path, kind = target
    with RunLock.for_file(path) if kind == "file" else RunLock(path):
        yield


def _check_inputs_done(command: str, stage: Any) -> None:
    """Refuse, in one line, a stage file whose input stages have not finished (their outputs are what it reads)."""
    from astro_env.errors import UserError
    from astro.stages import stage_hash

    run_dir = Path(stage.run_dir)
    missing = [name for name in stage.inputs if stage_hash(run_dir / name) is None]
    if missing:
        first = missing[0]
        raise UserError(
            f"stage {stage.stage} of run {run_dir} reads the output of stage(s) {', '.join(missing)}, not finished there; "
            f"run {run_dir / 'stages' / (first + '.json')} first with its command (`astro run --dry-run --out {run_dir}` "
            f"lists them in order), or the whole run with `astro run --config {run_dir / 'run_config.json'} --out {run_dir}`.")


def run_stage_command(cls: type, argv: Sequence[str] | None, body: Callable[[Any], Any], *, command: str, description: str,
                      default: Any = None, aliases: Mapping[str, str] | None = None) -> int:
    """Parse a `cls` config from `argv` and call `body(config)`; returns 0, or 2 after one line on bad input.

    With `--config` naming a stage file (`astro run --dry-run` writes them under `OUT/stages/`),
    the body runs as that stage: its key is computed as the in-process run computes it (the
    config plus the key hashes of the stages it reads), its folder gets the same `stage.json`,
    and a stage already done with that key is skipped (an `--out` that moves the output elsewhere makes
    it a plain command: the run's stage folder is then left as it is). Only the first process of a launcher
    (`RANK` 0) keeps the marker; the others run the body alone. Bad input (`astro.cli.is_bad_input`)
    prints `astro <command>: error: <one line>` and returns 2; any other exception propagates.

    A stage file whose input stages are not done in its run folder is refused in one line that names
    them. Before the body runs, the config is checked whole (`astro.validate.validate`, the checks
    `astro run --dry-run` runs on each stage), and the output is locked (`astro.stages.RunLock`:
    `OUT/.astro.lock` for a folder, `.NAME.astro.lock` beside a file; only `RANK` 0 of a
    launcher takes it): a second process on the same output is refused in one line while the
    first lives, and a dead owner's lock is taken over.
    """
    from astro.cli import is_bad_input, one_line
    from astro.validate import validate

    try:
        config, stage = parse_command(cls, list(argv or []), prog=f"astro {command}", description=description, default=default,
                                      aliases=aliases)
        if stage is not None:
            _check_inputs_done(command, stage)
        validate(command, config)  # everything checked before anything is written
        with _output_lock(command, config):
            if stage is None or os.environ.get("RANK", "0") != "0":
                body(config)
                return 0
            from astro.stages import StageRunner, stage_key

            run_dir = Path(stage.run_dir)
            StageRunner(run_dir)(stage.stage, stage_key(command, config, stage.inputs, run_dir), lambda out: body(config))
            return 0
    except Exception as exc:  # noqa: BLE001 - bad input becomes one line; anything else propagates
        if not is_bad_input(exc):
            raise
        print(f"astro {command}: error: {one_line(exc)}", file=sys.stderr)
        return 2
