"""Problem loaders: benchmark resolution, JSONL errors naming file and line, generated specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from astro_env.loaders import (
    BENCHMARKS,
    benchmark_path,
    data_dirs,
    file_sha256,
    load_problems,
    read_problems,
    write_problems,
)
from astro_env.problem import Problem

PROBLEMS = [
    Problem(id="a/1", problem="What is $1+1$?", answer="2", source="test", level=1),
    Problem(id="a/2", problem="Simplify $\\frac{2}{4}$.", answer="\\frac{1}{2}", solution="Halve.", subject="Algebra", year=2024),
]
README_SHA256 = {
    "math500": "2ec0e5ba68cbe6118d646eaaca7896962a7dfe00f7cc8fee2eca3cf1768718cc",
    "amc23": "445144857a309ded377d125f12eb48915fd76941aacb34cbd48783bb2b648e75",
    "aime24": "63b001da686c976c6cc64a553ca4c9d170d1ff3698e2c7e35bac141ab17e0c4d",
}
COUNTS = {"math500": 500, "amc23": 40, "aime24": 30, "aime25": 30}


def _shared_data_dir() -> Path | None:
    try:
        return benchmark_path("math500").parent
    except FileNotFoundError:
        return None


def test_write_then_read_round_trips(tmp_path):
    path = write_problems(PROBLEMS, tmp_path / "sub" / "p.jsonl")
    assert read_problems(path) == PROBLEMS
    assert load_problems(str(path)) == PROBLEMS
    assert load_problems(str(path), limit=1) == PROBLEMS[:1]
    assert not (tmp_path / "sub" / "p.jsonl.tmp").exists()


def test_file_sha256_hand_value(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_bytes(b"abc")
    assert file_sha256(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_env_var_and_argument_resolve_benchmarks(tmp_path, monkeypatch):
    write_problems(PROBLEMS, tmp_path / "aime24.jsonl")
    monkeypatch.setenv("ASTRO_DATA_DIR", str(tmp_path))
    assert benchmark_path("aime24") == tmp_path / "aime24.jsonl"
    assert [p.id for p in load_problems("aime24")] == ["a/1", "a/2"]
    other = tmp_path / "other"
    write_problems(PROBLEMS[:1], other / "aime24.jsonl")
    assert len(load_problems("aime24", data_dir=str(other))) == 1  # the argument wins over the variable


def test_shared_data_relative_to_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("ASTRO_DATA_DIR", raising=False)
    work = tmp_path / "repo"
    work.mkdir()
    write_problems(PROBLEMS, tmp_path / "shared" / "data" / "amc23.jsonl")
    monkeypatch.chdir(work)
    assert data_dirs()[0] == (tmp_path / "shared" / "data").resolve()
    assert benchmark_path("amc23") == (tmp_path / "shared" / "data" / "amc23.jsonl").resolve()


def test_unknown_names_raise_value_error():
    with pytest.raises(ValueError, match="unknown benchmark"):
        benchmark_path("gsm8k")
    with pytest.raises(ValueError, match="unknown problem set 'gsm8k'"):
        load_problems("gsm8k")
    with pytest.raises(ValueError, match="limit"):
        load_problems("countdown:3", limit=-1)


def test_missing_benchmark_offline_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="ASTRO_DATA_DIR") as info:
        load_problems("aime25", data_dir=str(tmp_path))
    assert "aime25.jsonl" in str(info.value) and str(tmp_path) in str(info.value)


@pytest.mark.parametrize(
    "lines, line_no, match",
    [
        (['{"id": "1", "problem": "p", "answer": "1"}', '{"id": "2", "problem": '], 2, "malformed JSON"),
        (['{"id": "1", "problem": "p", "answer": "1"}', "", '[1, 2]'], 3, "expected a JSON object"),
        (['{"id": "1", "problem": "p"}'], 1, "missing or empty field"),
        (['{"id": "1", "problem": "p", "answer": ""}'], 1, "answer"),
        (['{"id": "1", "problem": "p", "answer": "1"}', '{"id": "1", "problem": "q", "answer": "2"}'], 2, "duplicate id"),
        (['{"id": "1", "problem": "p", "answer": "1", "level": [1]}'], 1, "invalid problem record .`level`"),
        (['{"id": "1", "problem": 5, "answer": "1"}'], 1, "invalid problem record"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, lines, line_no, match):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=match) as info:
        load_problems(str(path))
    assert f"{path}:{line_no}:" in str(info.value)


def test_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_problems(str(tmp_path / "nope.jsonl"))


def test_generated_specs():
    countdown = load_problems("countdown:4:2")
    assert [p.id for p in countdown] == [f"countdown/2/{k}" for k in range(4)]
    assert len(load_problems("synthetic")) == 100 and load_problems("synthetic:3")[0].task == "math"
    with pytest.raises(ValueError, match="countdown\\[:n"):
        load_problems("countdown:x")


@pytest.mark.parametrize("name", BENCHMARKS)
def test_real_benchmark_files(name):
    directory = _shared_data_dir()
    if directory is None:
        pytest.skip("benchmark data not found (set ASTRO_DATA_DIR or provide ../shared/data)")
    problems = load_problems(name)
    assert len(problems) == COUNTS[name]
    assert len({p.id for p in problems}) == len(problems)
    assert all(p.answer.strip() and p.problem.strip() for p in problems)
    if name in README_SHA256:
        assert file_sha256(benchmark_path(name)) == README_SHA256[name]
    if name == "math500":
        assert all(p.level in range(1, 6) and p.subject for p in problems)
        assert sum(p.solution is not None for p in problems) == 500
    else:
        assert all(p.year in (2023, 2024, 2025) for p in problems)


@pytest.mark.parametrize(
    "content, match",
    [
        (b'{"id": "1", "problem": "p", "answer": "1"}\n\xff\xfe junk\n', "not UTF-8"),
        (b"this is not json at all\n", "malformed JSON line .* one JSON object per line"),
        (b'{"id": "1", "problem": "p", "answer": NaN}\n', "answer. is nan, not a number.*as a string"),
        (b'{"id": "1", "problem": "p", "answer": "1", "metadata": [1, 2]}\n', "`metadata` must be a JSON object"),
        (b'{"id": "1", "problem": "p", "answer": "1", "subject": 7}\n', "`subject` must be a string"),
        (b'{"id": "1", "problem": "p", "answer": "1", "task": "countdown", "numbers": "1 2 3", "target": 6}\n', "Countdown `numbers`"),
        (b'{"id": "1", "problem": "p", "answer": "1", "task": "countdown", "numbers": [1, 2], "target": "3"}\n', "Countdown `target`"),
        (b'{"id": "1", "problem": "p", "answer": [1]}\n', "answer. must be a string or a number"),
    ],
)
def test_bad_files_raise_one_value_error_naming_file_and_line(tmp_path, content, match):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        load_problems(str(path))
    line_no = content.count(b"\n")
    assert str(info.value).startswith(f"{path}:{line_no}:") and "\n" not in str(info.value)


def test_missing_file_and_directory_are_value_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist; pass an existing .jsonl"):
        read_problems(tmp_path / "nope.jsonl")
    with pytest.raises(ValueError, match="is a directory"):
        read_problems(tmp_path)


def test_unreachable_hub_fails_at_once_naming_the_local_alternative(tmp_path, monkeypatch):
    # a closed local port stands in for an unreachable hub: the probe fails without retries
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(ValueError, match=f"cannot connect to 127.0.0.1:{port}.*ASTRO_DATA_DIR"):
        load_problems("aime25", data_dir=str(tmp_path))
