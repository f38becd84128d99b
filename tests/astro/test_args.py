"""Command lines from the config dataclasses: aliases, plug-in configs resolved first, tyro's errors as one line."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from astro.args import expand_aliases, one_line_tyro_error, parse_config, take_option
from astro_env.errors import UserError

BOXED = (
    "╭─ Unrecognized options ───────────────────╮\n│ Unrecognized options: --n-sample, 3      │\n"
    "│ ──────────────────────────────────────── │\n│ Perhaps you meant:                       │\n"
    "│     --n-samples INT                      │\n│         Samples. (default: 4)            │\n"
    "│ ──────────────────────────────────────── │\n│ For full helptext, run prog --help       │\n"
    "╰──────────────────────────────────────────╯\n"
)
PLAIN = (  # what tyro writes when stdout is not UTF-8
    " Unrecognized options                       \n ------------------------------------------ \n"
    "  Unrecognized options: --n-sample, 3       \n  ------------------------------------------\n"
    "  Perhaps you meant:                        \n      --n-samples INT                       \n"
    "          Samples. (default: 4)             \n  ------------------------------------------\n"
    "  For full helptext, run prog --help        \n"
)


def test_tyro_errors_become_one_line_in_either_rendering():
    for text in (BOXED, PLAIN):
        # the value after the unknown flag is no option of its own
        assert one_line_tyro_error(text) == "Unrecognized option: --n-sample (did you mean --n-samples?)"


def test_aliases_rename_flags_and_leave_values_alone():
    aliases = {"--model": "--policy.model", "--task": "--task.name"}
    assert expand_aliases(["--model", "m", "--task=math", "--sft.lr", "1", "--", "--model"], aliases) == \
        ["--policy.model", "m", "--task.name=math", "--sft.lr", "1", "--", "--model"]
    assert take_option(["--config", "a.json", "--x", "1"], "--config") == ("a.json", ["--x", "1"])
    assert take_option(["--config=a.json"], "--config") == ("a.json", [])
    with pytest.raises(UserError, match="--config needs a value"):
        take_option(["--config"], "--config")


@dataclass(frozen=True)
class Tiny:
    lr: float = 1e-3
    """Learning rate."""
    n: int = 2
    """A count (>= 1)."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n={self.n}: use >= 1.")


def test_bad_values_and_failed_validation_are_user_errors_and_help_exits_0(capsys):
    assert parse_config(Tiny, ["--lr", "0.5"], Tiny(), prog="tiny", description="") == Tiny(lr=0.5)
    with pytest.raises(UserError, match="--lr"):
        parse_config(Tiny, ["--lr", "fast"], Tiny(), prog="tiny", description="")
    with pytest.raises(UserError, match=r"n=0: use >= 1\.$"):
        parse_config(Tiny, ["--n", "0"], Tiny(), prog="tiny", description="")
    with pytest.raises(SystemExit) as exit_info:
        parse_config(Tiny, ["--help"], Tiny(), prog="tiny", description="")
    assert exit_info.value.code == 0 and "Learning rate." in capsys.readouterr().out


@pytest.mark.slow  # a fresh interpreter builds the whole parser
def test_help_piped_into_a_reader_that_stops_early_is_quiet():
    """`astro run --help | head -1`: the closed pipe ends the command without a traceback or an "internal error"."""
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "astro.cli", "run", "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # the reader goes away after one line (the help, about 100 kB, outgrows the 64 kB pipe buffer)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err and "internal error" not in err, err
