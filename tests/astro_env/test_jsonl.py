"""Append-only JSONL: round trips, torn tails, malformed lines, repair, atomic JSON."""

from __future__ import annotations

import json

import pytest

from astro_env.jsonl import JsonlWriter, iter_jsonl, read_jsonl, repair_jsonl, write_json


def test_missing_file_reads_empty(tmp_path):
    assert read_jsonl(tmp_path / "none.jsonl") == []


def test_writer_round_trip_with_unicode(tmp_path):
    path = tmp_path / "d" / "r.jsonl"
    records = [{"a": 1}, {"text": "é \\frac{1}{2} 数"}, {"nested": {"x": [1, 2]}}]
    with JsonlWriter(path) as writer:
        for r in records:
            writer.write(r)
    assert read_jsonl(path) == records
    assert path.read_text(encoding="utf-8").count("\n") == 3


def test_torn_tail_is_dropped_and_repaired(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert read_jsonl(path) == [{"a": 1}, {"b": 2}]
    with pytest.raises(ValueError, match="r.jsonl:3"):
        read_jsonl(path, drop_torn_tail=False)
    assert repair_jsonl(path) == len(b'{"c": ')
    assert path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert repair_jsonl(path) == 0


def test_complete_last_line_without_newline_is_a_torn_write(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}')
    assert read_jsonl(path) == [{"a": 1}]
    assert read_jsonl(path, drop_torn_tail=False) == [{"a": 1}, {"b": 2}]


def test_malformed_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\nnot json\n{"b": 2}\n')
    with pytest.raises(ValueError, match=r"r\.jsonl:2: malformed"):
        read_jsonl(path)
    path.write_bytes(b'{"a": 1}\n[1]\n{"b": 2}\n')
    with pytest.raises(ValueError, match=r"r\.jsonl:2: expected a JSON object"):
        list(iter_jsonl(path))


def test_writer_after_crash_never_glues_records(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": ')
    with JsonlWriter(path) as writer:
        writer.write({"c": 3})
    assert read_jsonl(path) == [{"a": 1}, {"c": 3}]


def test_garbage_complete_last_line_is_repaired(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\ngarbage\n')
    assert read_jsonl(path) == [{"a": 1}]
    repair_jsonl(path)
    assert path.read_bytes() == b'{"a": 1}\n'


def test_write_json_is_atomic_and_readable(tmp_path):
    path = tmp_path / "c" / "config.json"
    write_json(path, {"lr": 1e-5, "name": "é"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"lr": 1e-5, "name": "é"}
    assert not (tmp_path / "c" / "config.json.tmp").exists()


def test_non_utf8_middle_line_names_file_and_line(tmp_path):
    path = tmp_path / "b.jsonl"
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n{"a": 2}\n')
    with pytest.raises(ValueError, match=r"b\.jsonl:2: not UTF-8 text"):
        read_jsonl(path)


def test_non_utf8_torn_tail_is_repaired(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
    assert repair_jsonl(path) == 3 and read_jsonl(path) == [{"a": 1}]
