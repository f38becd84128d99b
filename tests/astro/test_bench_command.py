import json
import sys
import types

import pytest

from astro.commands import bench as speed


def test_dispatches_to_the_module_main_with_the_rest_of_argv(monkeypatch):
    seen = []
    fake = types.ModuleType("benchmarks.bench_search")
    fake.main = lambda argv: seen.append(argv) or 3
    monkeypatch.setitem(sys.modules, "benchmarks.bench_search", fake)
    assert speed.main(["search", "--n", "5"]) == 3
    assert seen == [["--n", "5"]]


def test_missing_benchmark_module_gives_a_clear_error(monkeypatch, capsys):
    monkeypatch.setitem(speed.BENCHMARKS, "ghost", ("benchmarks.bench_ghost_does_not_exist", "nothing"))
    assert speed.main(["ghost"]) == 2
    assert "not available" in capsys.readouterr().err


def test_a_missing_dependency_inside_a_benchmark_is_not_hidden(monkeypatch):
    fake_name = "benchmarks.bench_sft"

    def broken_import(name, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'deepspeed'", name="deepspeed")

    monkeypatch.delitem(sys.modules, fake_name, raising=False)
    monkeypatch.setattr(speed.importlib, "import_module", broken_import)
    with pytest.raises(ModuleNotFoundError, match="deepspeed"):
        speed.main(["sft"])


def test_unknown_name_and_help(capsys):
    assert speed.main(["nope"]) == 2
    assert "unknown benchmark 'nope'" in capsys.readouterr().err
    assert speed.main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("grpo", "sft", "search", "verifier", "generation"))


def test_bench_all_runs_every_benchmark_in_order_and_reports_failures(monkeypatch, capsys):
    seen = []
    for name, (module_name, _) in speed.BENCHMARKS.items():
        fake = types.ModuleType(module_name)
        fake.main = (lambda n: lambda argv: seen.append((n, argv)) or (1 if n == "search" else 0))(name)
        monkeypatch.setitem(sys.modules, module_name, fake)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "trl" else object())
    assert speed.main(["all"]) == 1  # search failed
    assert [n for n, _ in seen] == [name for name, _, _ in speed.ALL]
    assert all("--vs-trl" not in argv for _, argv in seen)  # trl missing: the comparisons are left out, said once each
    err = capsys.readouterr().err
    assert err.count("trl is not installed") == 2 and "failed: search" in err


def test_bench_all_lists_its_commands_and_every_benchmark_is_in_it(capsys):
    assert speed.main(["all", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert {line.split()[2] for line in lines} == set(speed.BENCHMARKS)
    assert speed.main(["all", "--bogus"]) == 2


def test_bench_all_table_holds_each_headline_its_goal_and_the_conditions(monkeypatch, tmp_path, capsys):
    records = {"grpo": {"ratio_vs_trl": 1.62}, "sft": {"ratio_vs_trl": 1.71}, "ray": {"speedup/ray2_vs_ray1": 1.9}}
    for name, (module_name, _) in speed.BENCHMARKS.items():
        fake = types.ModuleType(module_name)

        def fake_main(argv, n=name):
            print("progress text, then the record")
            if n == "pretrain":
                print(json.dumps({"variant": "first"}))  # a benchmark that prints one line per variant
            print(json.dumps(records.get(n, {"bench": n, "argv": argv})))
            return 1 if n == "generation" else 0

        fake.main = fake_main
        monkeypatch.setitem(sys.modules, module_name, fake)
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object())
    table = tmp_path / "speed.md"
    assert speed.main(["all", "--table", str(table)]) == 1  # generation failed: still written, and said
    text = table.read_text()
    rows = {line.split(" | ")[0].strip("| "): line for line in text.splitlines() if line.startswith("| ") and "`astro bench" in line}
    assert set(rows) == set(speed.BENCHMARKS)
    assert "1.62 | >= 2 | no |" in rows["grpo"] and "1.71 | >= 1.5 | yes |" in rows["sft"] and "1.9 | >= 1.8 | yes |" in rows["ray"]
    assert "(failed)" in rows["generation"] and "CPUs" in text and "torch " in text
    assert '- pretrain: `{"variant": "first"}`' in text  # every JSON line a benchmark printed is kept
    assert "--out TMP/pretrain`" in rows["pretrain"]  # the run's temporary folder, not a path of this machine
    assert '"argv": ["--probe", "100", "--variants", "default,batch48", "--out", "TMP/pretrain"]' in text  # in the records too
    assert speed.main(["all", "--table", str(tmp_path / "missing" / "x.md")]) == 2
    assert "its folder does not exist" in capsys.readouterr().err
