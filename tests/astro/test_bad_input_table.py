"""Bad input to every command: exit code 2, one line on stderr (no traceback, no usage block, no tyro box),
and the working folder unchanged, byte for byte (issue 25's cases and more, one row each)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from astro.cli import main as cli_main
from astro_env.jsonl import JsonlWriter, write_manifest
from astro_env.loaders import write_problems
from astro_env.problem import Problem
from tests.search.make_golden import countdown_tree, math_tree

SEARCH = ["--policy.backend", "countdown", "--search.agent-config.n-iterations", "2", "--no-progress"]
EVAL = ["--policy", "oracle", "--no-progress"]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder of inputs, good and bad, that the cases name by key."""
    import astro_env

    root = tmp_path_factory.mktemp("inputs")
    files = {}
    files["P"] = write_problems(astro_env.get_task("countdown").generate(3, 0), root / "problems.jsonl")
    files["MATH"] = write_problems([Problem(id="m1", problem="What is 1+1?", answer="2", task="math")], root / "math.jsonl")
    files["T"] = root / "trees.jsonl"
    with JsonlWriter(files["T"]) as writer:
        for tree in (countdown_tree(), math_tree()):
            writer.write(tree.to_dict())
    write_manifest(files["T"])
    files["TR"] = root / "traces" / "traces_astro.jsonl"
    assert cli_main(["linearize", str(files["T"]), "--out", str(files["TR"].parent)]) == 0
    files["E"] = root / "empty.jsonl"
    files["E"].write_text("")
    files["BIN"] = root / "latin1.jsonl"
    files["BIN"].write_bytes(b'{"id": "caf\xe9", "problem": "x", "answer": "1"}\n')
    files["DIR"] = root / "folder"
    files["DIR"].mkdir()
    files["MAL"] = root / "malformed.jsonl"
    files["MAL"].write_text('{"id": "a", "problem": "1+1", "answer": "2"\n')
    files["LIST"] = root / "listproblem.jsonl"
    files["LIST"].write_text('{"id": "a", "problem": ["1+1"], "answer": "2"}\n')
    files["M"] = root / "model"  # passes the model check (config.json), so a case fails on what it is about
    files["M"].mkdir()
    (files["M"] / "config.json").write_text("{}")
    files["NOMODEL"] = root / "not_a_model"
    files["NOMODEL"].mkdir()
    (files["NOMODEL"] / "weights.txt").write_text("no config.json here")
    files["TORN"] = root / "torn_trees.jsonl"  # a search killed mid-line
    files["TORN"].write_bytes(files["T"].read_bytes()[:-40])
    files["CUTT"] = root / "cut" / "trees.jsonl"  # a finished tree file cut since: its manifest says two trees
    files["CUTT"].parent.mkdir()
    files["CUTT"].write_bytes(files["T"].read_bytes())
    write_manifest(files["CUTT"])
    files["CUTT"].write_bytes(files["T"].read_bytes().split(b"\n")[0] + b"\n")
    files["CUTTR"] = root / "cut_traces" / "traces_astro.jsonl"
    files["CUTTR"].parent.mkdir()
    lines = files["TR"].read_bytes().splitlines(keepends=True)
    files["CUTTR"].write_bytes(b"".join(lines))
    write_manifest(files["CUTTR"])
    files["CUTTR"].write_bytes(b"".join(lines[:1]))
    files["GARBAGE"] = root / "eval_garbage"  # an evaluation folder with a garbage line among its records
    (files["GARBAGE"] / "problems").mkdir(parents=True)
    (files["GARBAGE"] / "problems" / "completions.jsonl").write_text('{"bench": "problems"}\nnot json\n{"bench": "problems"}\n')
    files["FILE"] = root / "a_file.txt"
    files["FILE"].write_text("in the way\n")
    if os.geteuid() == 0:  # root writes through permission bits; /sys is mounted read-only
        files["RO"] = Path("/sys/astro-test-out")
    else:
        files["RO"] = root / "read_only"
        files["RO"].mkdir()
        files["RO"].chmod(0o555)
    return root, {k: str(v) for k, v in files.items()}


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    return out


CASES = [
    # --- astro linearize
    ("linearize", ["{P}", "--out", "{OUT}"], "this is a problems file"),
    ("linearize", ["{BIN}", "--out", "{OUT}"], "not UTF-8"),
    ("linearize", ["{E}", "--out", "{OUT}"], "holds no tree"),
    ("linearize", ["{DIR}", "--out", "{OUT}"], "is a directory"),
    ("linearize", ["{OUT}/missing.jsonl", "--out", "{OUT}"], "no such tree file"),
    ("linearize", ["{TR}", "--out", "{OUT}"], "this is a traces file"),
    ("linearize", ["{TORN}", "--out", "{OUT}"], "the search did not finish"),
    ("linearize", ["{CUTT}", "--out", "{OUT}"], "holds 1 records where its manifest records 2"),
    ("linearize", ["{T}", "--out", "{FILE}"], "a file is in the way"),
    ("linearize", ["{T}", "--out", "{RO}/traces"], "cannot write"),
    ("linearize", ["{T}", "--out", "{OUT}", "--linearize.k-values", "0"], "k >= 1"),
    ("linearize", ["{T}", "--out", "{OUT}", "--tokenizer", "{NOMODEL}"], "--tokenizer"),
    ("linearize", ["{T}", "--out", "{OUT}", "--arms", "both"], "--arms"),
    ("linearize", ["{T}", "--out", "{OUT}", "--self-eval", "--judge.model", "{NOMODEL}"], "--judge.model"),
    # --- astro search
    ("search", ["--problems", "{P}", "--out", "{P}", *SEARCH], "this is a problems file"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--search.agent-config.c-puct", "nan"], "--search.agent-config.c-puct nan"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--search.agent-config.c-puct", "inf"], "--search.agent-config.c-puct inf"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--policy.temperature", "nan"], "--policy.temperature"),
    ("search", ["--problems", "{E}", "--out", "{OUT}/t.jsonl", *SEARCH], "holds no problem"),
    ("search", ["--problems", "{DIR}", "--out", "{OUT}/t.jsonl", *SEARCH], "is a folder"),
    ("search", ["--problems", "{LIST}", "--out", "{OUT}/t.jsonl", *SEARCH], "`problem` must be a string"),
    ("search", ["--problems", "{MAL}", "--out", "{OUT}/t.jsonl", *SEARCH], "malformed.jsonl:1: malformed JSON"),
    ("search", ["--problems", "{BIN}", "--out", "{OUT}/t.jsonl", *SEARCH], "latin1.jsonl:1: not UTF-8"),
    ("search", ["--problems", "{OUT}/absent.jsonl", "--out", "{OUT}/t.jsonl", *SEARCH], "does not exist"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--search.agent", "dfs"], "unknown search agent 'dfs'"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--search.agent", "no_such_pkg.mod:Agent"], "cannot import it"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--search.agent-config.c-puc", "1"], "did you mean --search.agent-config.c-puct"),
    ("search", ["--problems", "{P}", "--out", "{RO}/t.jsonl", *SEARCH], "cannot write"),
    ("search", ["--problems", "{P}", "--out", "{DIR}", *SEARCH], "is a folder; give the path of the output file"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", "--policy.backend", "nosuch", "--no-progress"], "unknown policy backend 'nosuch'"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", "--policy.model", "{NOMODEL}", "--no-progress"], "no config.json"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--shard", "3/2"], "--shard '3/2'"),
    ("search", ["--problems", "{MATH}", "--out", "{OUT}/t.jsonl", *SEARCH], "is not a Countdown problem"),
    ("search", ["--problems", "{P}", "--task", "countdown", "--out", "{OUT}/t.jsonl", *SEARCH], "exactly one of --problems"),
    ("search", ["--problems", "{P}", "--out", "{OUT}/t.jsonl", *SEARCH, "--busy"], "is in use by process"),
    # --- astro eval
    ("eval", ["--eval.benches", "{P}", "--out", "{OUT}", *EVAL, "--backend", "nosuch"], "unknown policy backend 'nosuch'"),
    ("eval", ["--eval.benches", "{E}", "--out", "{OUT}", *EVAL], "holds no problem"),
    ("eval", ["--eval.benches", "{DIR}", "--out", "{OUT}", *EVAL], "is a folder"),
    ("eval", ["--eval.benches", "math501", "--out", "{OUT}", *EVAL], "math501"),
    ("eval", ["--eval.benches", "{P}", "--out", "{OUT}", "--policy", "{NOMODEL}", "--no-progress"], "no config.json"),
    ("eval", ["--eval.benches", "{P}", "--out", "{OUT}", *EVAL, "--eval.temperature", "nan"], "temperature=nan"),
    ("eval", ["--eval.benches", "{P}", "--out", "{FILE}", *EVAL], "a file is in the way"),
    ("eval", ["--eval.benches", "{P}", "--out", "{GARBAGE}", *EVAL], "completions.jsonl:2: malformed JSON line"),
    ("eval", ["--eval.benches", "{P}", "--out", "{OUT}", *EVAL, "--busy"], "is in use by process"),
    # --- astro sft
    ("sft", ["--traces", "{T}", "--model", "{M}", "--out", "{OUT}"], "not a trace"),
    ("sft", ["--traces", "{E}", "--model", "{M}", "--out", "{OUT}"], "holds no trace"),
    ("sft", ["--traces", "{BIN}", "--model", "{M}", "--out", "{OUT}"], "not UTF-8"),
    ("sft", ["--traces", "{P}", "--model", "{M}", "--out", "{OUT}"], "this is a problems file"),
    ("sft", ["--traces", "{CUTTR}", "--model", "{M}", "--out", "{OUT}"], "cut short or changed"),
    ("sft", ["--traces", "{TR}", "--model", "{NOMODEL}", "--out", "{OUT}"], "no config.json"),
    ("sft", ["--traces", "{TR}", "--model", "./no/such/model", "--out", "{OUT}"], "no such directory"),
    ("sft", ["--traces", "{TR}", "--model", "{M}", "--out", "{FILE}"], "a file is in the way"),
    ("sft", ["--traces", "{TR}", "--model", "{M}", "--out", "{OUT}", "--lr", "nan"], "lr=nan"),
    # --- astro grpo
    ("grpo", ["--model", "{NOMODEL}", "--out", "{OUT}"], "no config.json"),
    ("grpo", ["--model", "{M}", "--problems", "{MAL}", "--out", "{OUT}"], "malformed.jsonl:1"),
    ("grpo", ["--model", "{M}", "--problems", "{E}", "--out", "{OUT}"], "holds no problem"),
    ("grpo", ["--model", "{M}", "--backend", "nosuch", "--out", "{OUT}"], "unknown policy backend 'nosuch'"),
    ("grpo", ["--model", "{M}", "--engine", "jax", "--out", "{OUT}"], "unknown GRPO engine 'jax'"),
    ("grpo", ["--model", "{M}", "--out", "{FILE}"], "a file is in the way"),
    ("grpo", ["--model", "{M}", "--out", "{OUT}", "--max-grad-norm", "inf"], "inf"),
    # --- astro pretrain
    ("pretrain", ["--out", "{RO}/base"], "cannot write"),
    ("pretrain", ["--out", "{FILE}"], "a file is in the way"),
    ("pretrain", ["--out", "{OUT}", "--task", "chess"], "unknown task 'chess'"),
    ("pretrain", ["--out", "{OUT}", "--lr", "nan"], "nan"),
    # --- astro problems
    ("problems", ["--out", "{OUT}", "--task.train-problems", "{MAL}"], "malformed.jsonl:1"),
    ("problems", ["--out", "{OUT}", "--task.bench", "{DIR}"], "is a folder"),
    ("problems", ["--out", "{FILE}"], "a file is in the way"),
    ("problems", ["--out", "{OUT}", "--task.n-rl", "-3"], "task.n_rl=-3: use an integer >= 0"),
    ("problems", ["--out", "{OUT}", "--task.train-problems", "{P}", "--task.n-train", "2", "--task.n-rl", "5"], "for --task.n-rl 5"),
    ("run", ["--dry-run", "--out", "{OUT}", "--task.n-rl", "-1"], "task.n_rl=-1"),
    # --- astro run (the dry run validates as the run does)
    ("run", ["--dry-run", "--out", "{OUT}", "--task", "chess"], "unknown task 'chess'"),
    # the embedded base needs the task's own corpus: refused before any stage runs, dry run or not
    ("run", ["--out", "{OUT}", "--preset", "smoke", "--task", "math"], "have no step grammar"),
    ("run", ["--dry-run", "--out", "{OUT}", "--task", "no_such_pkg.mod:Task"], "cannot import it"),
    ("run", ["--dry-run", "--out", "{OUT}", "--search-agent", "dfs"], "unknown search agent 'dfs'"),
    ("run", ["--dry-run", "--out", "{OUT}", "--search.agent-config.c-puc", "1"], "did you mean --search.agent-config.c-puct"),
    ("run", ["--dry-run", "--out", "{OUT}", "--search.agent-config.c-puct", "nan"], "--search.agent-config.c-puct nan"),
    ("run", ["--dry-run", "--out", "{OUT}", "--model", "{NOMODEL}"], "no model there"),
    ("run", ["--dry-run", "--out", "{OUT}", "--train-problems", "{MAL}"], "malformed.jsonl:1"),
    ("run", ["--dry-run", "--out", "{FILE}"], "a file is in the way"),
    ("run", ["--dry-run", "--out", "{RO}/run"], "cannot write"),
    ("run", ["--out", "{OUT}", "--model", "{NOMODEL}"], "no model there"),
    ("run", ["--out", "{OUT}", "--train-problems", "{LIST}", "--task", "countdown"], "`problem` must be a string"),
    ("run", ["--out", "{OUT}", "--policy.backend", "nosuch"], "unknown policy backend 'nosuch'"),
    ("run", ["--dry-run", "--out", "{OUT}", "--config", "{MAL}"], "not a JSON config"),
    ("run", ["--out", "{OUT}", "--task", "math", "--train-problems", "{P}"], "have a task other than 'math'"),
    ("problems", ["--out", "{OUT}", "--task.name", "math", "--task.train-problems", "{P}"], "have a task other than 'math'"),
    # --- astro competence
    ("competence", ["--out", "{OUT}", "--task", "countdown", "--problems", "{E}", "--models", "a", "{M}"], "holds no problem"),
    ("competence", ["--out", "{OUT}", "--task", "countdown", "--problems", "{P}", "--models", "a", "{NOMODEL}"], "no config.json"),
    # --- a saved config that is no config
    ("search", ["--config", "{MAL}"], "not a JSON config"),
    ("sft", ["--config", "{P}"], "not a JSON config"),
    # --- astro tree, astro bench, astro export (argparse commands)
    ("tree", ["show", "{P}"], "this is a problems file"),
    ("tree", ["show", "{TORN}"], "the search did not finish"),
    ("tree", ["show", "{E}", "--out", "{OUT}/t.html"], "no trees"),
    ("tree", ["show", "{T}", "--index", "x"], "--index"),
    ("tree", ["draw"], "invalid choice"),
    ("bench", ["grpo", "--stepz", "3"], "unrecognized arguments: --stepz"),
    ("bench", ["search", "--n-problems", "x"], "invalid int value"),
    ("bench", ["sft", "--threads", "two"], "invalid int value"),
    ("export", ["{T}"], "--out"),
    ("export", ["{T}", "--out", "{OUT}", "--format", "xml"], "invalid choice"),
    ("export", ["{T}", "--out", "{FILE}"], "a file is in the way"),
]


def _ids():
    seen: dict[str, int] = {}
    out = []
    for command, _, message in CASES:
        seen[command] = seen.get(command, 0) + 1
        out.append(f"{command}-{seen[command]}")
    return out


@pytest.mark.parametrize("command, argv, message", CASES, ids=_ids())
def test_bad_input_is_one_line_exit_2_and_changes_nothing(work, tmp_path, capsys, command, argv, message):
    root, files = work
    out = tmp_path / "out"
    names = {**files, "OUT": str(out)}
    argv = [a.format(**names) for a in argv]
    sleeper = None
    if "--busy" in argv:  # another live process holds the output
        argv.remove("--busy")
        sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        lock = out / (".t.jsonl.astro.lock" if command == "search" else ".astro.lock")
        lock.parent.mkdir(parents=True)
        lock.write_text(str(sleeper.pid))
    before_root, before_out = _snapshot(root), _snapshot(tmp_path)
    capsys.readouterr()
    try:
        code = cli_main([command, *argv])
    finally:
        if sleeper is not None:
            sleeper.kill()
            sleeper.wait()
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"astro {command}: error: ") and message in err, err
    assert "Traceback" not in err and "usage:" not in err and "╭" not in err
    assert _snapshot(root) == before_root
    assert _snapshot(tmp_path) == before_out, "a refused command left files behind"


def test_the_table_covers_every_writing_command_and_enough_cases():
    commands = {command for command, _, _ in CASES}
    assert {"search", "linearize", "pretrain", "sft", "grpo", "eval", "export", "run", "problems"} <= commands
    assert len(CASES) >= 55
