"""Run folders: stages keyed on what they consume, the folder lock, workers that die with the parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from astro.stages import RunFolderBusy, RunLock, StageRunner, stage_hash


def test_a_changed_key_clears_the_stage_folder_before_it_runs_again(tmp_path):
    def body(tag):
        def run(out):
            with (out / "records.jsonl").open("a") as fh:
                fh.write(tag + "\n")
        return run

    stage = StageRunner(tmp_path)
    out = stage("traces", {"k": [1, 2]}, body("old"))
    first = stage_hash(out)
    stage("traces", {"k": [1]}, body("new"))
    assert (out / "records.jsonl").read_text() == "new\n"  # nothing of the old run appended to
    assert stage_hash(out) != first


def test_a_killed_stage_with_the_same_key_resumes_over_its_partial_output(tmp_path):
    stage = StageRunner(tmp_path)

    def crash(out):
        (out / "partial.jsonl").write_text("1\n")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        stage("search", {"n": 1}, crash)
    assert stage_hash(tmp_path / "search") is None  # unfinished
    seen = []
    stage("search", {"n": 1}, lambda out: seen.append((out / "partial.jsonl").read_text()))
    assert seen == ["1\n"]
    with pytest.raises(KeyboardInterrupt):
        stage("other", {"n": 1}, crash)
    stage("other", {"n": 2}, lambda out: seen.append((out / "partial.jsonl").exists()))
    assert seen[-1] is False  # a different key starts from scratch


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_ones(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".astro.lock").write_text(str(sleeper.pid))
        with pytest.raises(RunFolderBusy, match=str(sleeper.pid)):
            RunLock(tmp_path).acquire()
    finally:
        sleeper.kill()
        sleeper.wait()
    with RunLock(tmp_path) as lock:  # the owner is gone: taken over
        assert (tmp_path / ".astro.lock").read_text() == str(os.getpid()) and lock.held
    assert not (tmp_path / ".astro.lock").exists()


PARENT = """
import multiprocessing, sys, time
from concurrent.futures import ProcessPoolExecutor
from astro_env.processes import die_with_parent

def work(_):
    import os
    os.write(1, f"{os.getpid()}\\n".encode())  # one write per line: the two workers share the pipe
    time.sleep(120)

if __name__ == "__main__":
    pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent)
    list(pool.map(work, range(2)))
"""


def test_workers_die_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    children: list[int] = []
    while len(children) < 2:
        line = parent.stdout.readline()
        assert line, "the parent exited before its workers started"
        if line.strip().isdigit():
            children.append(int(line))
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30  # a bound on waiting, not a speed assertion
    alive = children
    while alive and time.monotonic() < deadline:
        alive = [pid for pid in alive if _alive(pid)]
        time.sleep(0.1)
    assert alive == []


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_the_report_key_follows_the_code_that_writes_the_report(tmp_path, monkeypatch):
    """A change to how the report is computed rewrites the report of a finished run (its key holds that code's hash)."""
    from astro import pipeline

    module = tmp_path / "report_code_probe.py"
    module.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(pipeline, "REPORT_MODULES", ("report_code_probe",))
    before = pipeline.report_code_hash()
    module.write_text("X = 2\n")
    assert pipeline.report_code_hash() != before


def test_the_report_key_follows_the_preset_the_report_compares_with(tmp_path, monkeypatch):
    """The report lists the flags that differ from the preset: a preset redefined under a finished run rewrites it."""
    import dataclasses

    from astro import config as config_module
    from astro import pipeline

    config = dataclasses.replace(config_module.PRESETS["smoke"], seeds=(0, 1))
    before = pipeline.report_key(config, tmp_path)
    assert before["changed_from_preset"] == {"seeds": [0, 1]}
    presets = dict(config_module.PRESETS, smoke=config)
    monkeypatch.setattr(config_module, "PRESETS", presets)
    after = pipeline.report_key(config, tmp_path)
    assert after["changed_from_preset"] == {} and after["config"] == before["config"]
    assert config_module.config_hash(after) != config_module.config_hash(before)
