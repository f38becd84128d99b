"""`astro export`: search trees and traces as a Hub-ready dataset folder (data files + a dataset card).

    astro export runs/x --out hub/astro-countdown                    # every trees/traces file of a run folder
    astro export trees.jsonl traces.jsonl --out hub/x --format jsonl  # or files

The folder holds `data/trees/train.<ext>` (config "trees", one row per search tree) and
`data/traces/<arm>.<ext>` (config "traces", one split per arm: "astro", "direct"), as Parquet
(default) or JSON Lines, and a `README.md` dataset card whose YAML header declares the configs
and splits, so `datasets.load_dataset(DIR, "traces")` reads it and `huggingface-cli upload`
(or `HfApi().upload_folder`) publishes it as it is. The card lists the fields and the
provenance: tasks, model (the search policy), search agent and its settings, the linearisation
settings, tree/trace counts and the commands.

A source is a run folder (searched recursively for `trees*.jsonl` and `traces*.jsonl`) or a
JSONL file, whose kind is read from its first record (a tree has `nodes`, a trace `completion`).
Settings are read from the files `astro search` and `astro linearize` write beside their
output (`<stem>.config.json`, `<file>.config.json`, a folder's `linearize_config.json` or
`config.json`) and a run folder's `run_config.json` (the run's config tree). Bad input (a missing source, a file that is neither, nothing to
export, an --out that holds other files) is one line on stderr, exit code 2, nothing written.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from astro.args import OneLineParser
from astro_env.errors import MissingFileError, UserError
from astro_env.jsonl import iter_jsonl, read_jsonl

TREE_FIELDS = {
    "problem_id": "Id of the problem the tree searched.",
    "task": "astro task that verifies the problem (`astro_env.get_task` name).",
    "problem": "Problem statement.",
    "answer": "Reference final answer.",
    "prompt": "Text the policy conditioned on (the task's prompt).",
    "delimiter": "Separator between reasoning steps.",
    "agent": "Search agent that built the tree.",
    "seed": "Per-problem search seed.",
    "n_nodes": "Nodes in the tree (the root included).",
    "n_correct_terminals": "Terminal nodes whose final answer is correct.",
    "nodes": "The nodes: id, parent_id, step (text), depth, prior, visits, value (Q), terminal, answer, correct, n_tokens, logprob.",
    "stats": "Search statistics as a JSON object (iterations, rollouts, generated tokens, seconds, ...).",
    "problem_metadata": "The problem's task-specific metadata as a JSON object.",
}
TRACE_FIELDS = {
    "problem_id": "Id of the problem whose tree the trace linearises.",
    "arm": '"astro" (search procedure with reflection and backtracking) or "direct" (the correct path only).',
    "prompt": "Prompt (SFT input).",
    "completion": "Completion (SFT target): the chain of thought ending in the boxed answer.",
    "n_backtracks": "Backtracks verbalised in the completion.",
    "n_restarts": "Restarts from the root verbalised in the completion.",
    "n_tokens": "Tokens of the completion (the tokenizer's, or characters without one).",
    "k": "Index of the trace among those drawn from the same tree.",
    "node_ids": "Tree nodes the trace visits, in order.",
    "source": "Problem source (benchmark or generator).",
}


# ----------------------------------------------------------------------------- finding the inputs


def classify(path: Path) -> str:
    """"trees" or "traces", from the first record of the JSONL file `path`; UserError otherwise."""
    try:
        first = next(iter_jsonl(path), None)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} is not a JSON Lines file ({exc}); pass trees or traces written by astro.") from None
    if isinstance(first, dict) and "nodes" in first and "problem" in first:
        return "trees"
    if isinstance(first, dict) and "completion" in first and "prompt" in first:
        return "traces"
    raise UserError(f"{path} holds neither search trees (records with 'nodes') nor traces (records with 'completion'); "
                    "pass files written by `astro search` or `astro linearize`, or a run folder.")


def find_sources(sources: Iterable[str]) -> dict[str, list[Path]]:
    """{"trees": [...], "traces": [...]} of the files `sources` name (files, or folders searched recursively)."""
    found: dict[str, list[Path]] = {"trees": [], "traces": []}
    for source in sources:
        path = Path(source)
        if not path.exists():
            raise MissingFileError(f"no such file or folder: {path}; pass a run folder or trees/traces .jsonl files.")
        if path.is_dir():
            candidates = sorted(p for p in path.rglob("*.jsonl") if p.name.startswith(("trees", "traces")))
            for candidate in candidates:
                if candidate.stat().st_size:
                    found[classify(candidate)].append(candidate)
        else:
            found[classify(path)].append(path)
    if not found["trees"] and not found["traces"]:
        raise UserError(f"found no trees or traces in {', '.join(sources)}; pass a run folder or files written by "
                        "`astro search` / `astro linearize`.")
    return found


def settings_beside(path: Path) -> dict[str, Any]:
    """The settings file written beside `path` (`<file>.config.json`, `<stem>.config.json`, `linearize_config.json`,
    `config.json`), or {}."""
    for candidate in (path.with_name(path.name + ".config.json"), path.with_name(path.stem + ".config.json"),
                      path.parent / "linearize_config.json", path.parent / "config.json"):
        if candidate.is_file():
            try:
                return json.loads(candidate.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                return {}
    return {}


# ----------------------------------------------------------------------------- rows


def tree_row(record: dict[str, Any]) -> dict[str, Any]:
    """One dataset row of a tree record (nested `problem` flattened; free-form dicts as JSON text)."""
    problem = record.get("problem", {})
    nodes = record.get("nodes", [])
    return {
        "problem_id": problem.get("id"),
        "task": problem.get("task"),
        "problem": problem.get("problem"),
        "answer": problem.get("answer"),
        "prompt": record.get("prompt"),
        "delimiter": record.get("delimiter"),
        "agent": record.get("agent"),
        "seed": record.get("seed"),
        "n_nodes": len(nodes),
        "n_correct_terminals": sum(1 for n in nodes if n.get("terminal") and n.get("correct")),
        "nodes": nodes,
        "stats": json.dumps(record.get("stats", {}), sort_keys=True),
        "problem_metadata": json.dumps(problem.get("metadata") or {}, sort_keys=True),
    }


def write_rows(rows: list[dict[str, Any]], path: Path, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), str(path))


# ----------------------------------------------------------------------------- the card


def provenance(found: dict[str, list[Path]], trees: list[dict], traces: list[dict], sources: list[str]) -> dict[str, Any]:
    """What made the data: tasks, model, search agent and settings, linearisation settings, counts."""
    search = [settings_beside(p) for p in found["trees"]]
    linearize = [settings_beside(p) for p in found["traces"]]
    runs = []
    for source in sources:
        run_config = Path(source) / "run_config.json"
        if run_config.is_file():
            runs.append(json.loads(run_config.read_text(encoding="utf-8")))
    tasks = Counter(str(r.get("task") or "?") for r in trees) if trees else Counter(str(r.get("source") or "?") for r in traces)
    run_models = {str((r.get("policy") or {}).get("model")) for r in runs if isinstance(r.get("policy"), dict) and r["policy"].get("model")}
    models = sorted({str(s["policy"]) for s in search if s.get("policy")} | run_models)
    agents = sorted({str(s.get("search", {}).get("agent")) for s in search if s.get("search", {}).get("agent")}
                    | {str(r.get("agent")) for r in trees if r.get("agent")})
    return {
        "tasks": dict(tasks),
        "models": models,
        "search_agents": agents,
        "search_settings": [s.get("search", s) for s in search if s],
        "search_policies": [str(s.get("policy") or "") for s in search if s],
        "linearize_settings": [s for s in linearize if s],
        "run_configs": runs,
        "n_trees": len(trees),
        "n_traces": len(traces),
        "n_traces_per_arm": dict(Counter(str(r.get("arm")) for r in traces)),
        "files": {kind: [str(p) for p in paths] for kind, paths in found.items()},
    }


def _yaml_header(configs: dict[str, dict[str, str]], tags: list[str]) -> str:
    import yaml

    header = {
        "configs": [{"config_name": name, "data_files": [{"split": split, "path": path} for split, path in splits.items()],
                     **({"default": True} if i == 0 else {})}
                    for i, (name, splits) in enumerate(configs.items())],
        "tags": tags,
        "task_categories": ["text-generation"],
    }
    return yaml.safe_dump(header, sort_keys=False)


def _fields_table(rows: list[dict], descriptions: dict[str, str]) -> str:
    names = list(dict.fromkeys([k for r in rows[:1] for k in r] + [k for r in rows for k in r]))
    lines = ["| field | type | meaning |", "|---|---|---|"]
    for name in names:
        value = next((r[name] for r in rows if r.get(name) is not None), None)
        kind = type(value).__name__ if value is not None else "null"
        lines.append(f"| `{name}` | {kind} | {descriptions.get(name, '')} |")
    return "\n".join(lines)


def commands(prov: dict[str, Any]) -> list[str]:
    """The `astro search` / `astro linearize` command lines the recorded settings stand for (problem source not recorded)."""
    lines = []
    for settings, policy in zip(prov["search_settings"], prov["search_policies"]):
        backend, _, model = (policy or "POLICY").partition(":")  # a policy's name is `backend:model`, or the backend alone
        options = [f"--search.agent-config.{k.replace('_', '-')} {v}" for k, v in sorted((settings.get("agent_config") or {}).items())]
        lines.append(shlex.join(["astro", "search", "--problems", "PROBLEMS", "--policy.backend", backend,
                                 *(["--policy.model", model] if model else []),
                                 "--search.agent", str(settings.get("agent", "mcts")), "--search.seed", str(settings.get("seed", 0)),
                                 "--out", "trees.jsonl"]) + (" " + " ".join(options) if options else ""))
    for settings in prov["linearize_settings"]:
        argv = ["astro", "linearize", *[Path(t).name for t in settings.get("trees", ["trees.jsonl"])],
                "--arms", *[str(a) for a in settings.get("arms", ["astro"])], "--seed", str(settings.get("seed", 0)), "--out", "traces"]
        if settings.get("tokenizer"):
            argv += ["--tokenizer", str(settings["tokenizer"])]
        lines.append(shlex.join(argv))
    return list(dict.fromkeys(lines))


def dataset_card(name: str, configs: dict[str, dict[str, str]], trees: list[dict], trace_rows: list[dict],
                 prov: dict[str, Any], command: str) -> str:
    """README.md: YAML header (configs, splits, tags), then fields and provenance in Markdown."""
    def block(obj: Any) -> str:
        return "```json\n" + json.dumps(obj, indent=2, sort_keys=True) + "\n```"

    parts = ["---", _yaml_header(configs, ["astro-gym", "reasoning", "search-trees", "mcts", "chain-of-thought"]).rstrip(),
             "---", "", f"# {name}", "",
             "Search trees and the chains of thought linearised from them (ASTRO: Monte Carlo tree search over "
             "reasoning steps, traces that reflect and backtrack in natural language), made with astro-gym.", "",
             "```python", "from datasets import load_dataset", ""]
    parts += [f'{cfg} = load_dataset("{name}", "{cfg}")' for cfg in configs]
    parts += ["```", "", "## Contents", "",
              "| config | split | rows | file |", "|---|---|---|---|"]
    counts = {("trees", "train"): len(trees), **{("traces", arm): n for arm, n in prov["n_traces_per_arm"].items()}}
    for cfg, splits in configs.items():
        for split, path in splits.items():
            parts.append(f"| {cfg} | {split} | {counts.get((cfg, split), 0)} | `{path}` |")
    if trees:
        parts += ["", "## Fields: trees", "", _fields_table(trees, TREE_FIELDS)]
    if trace_rows:
        parts += ["", "## Fields: traces", "", _fields_table(trace_rows, TRACE_FIELDS)]
    parts += ["", "## Provenance", "",
              f"- tasks: {', '.join(f'{k} ({v})' for k, v in prov['tasks'].items()) or 'unknown'}",
              f"- model (search policy): {', '.join(prov['models']) or 'not recorded'}",
              f"- search agent: {', '.join(prov['search_agents']) or 'not recorded'}",
              f"- trees: {prov['n_trees']}; traces: {prov['n_traces']} "
              f"({', '.join(f'{k}: {v}' for k, v in prov['n_traces_per_arm'].items()) or 'none'})",
              "", "### Commands", "", "```sh", *commands(prov), command, "```"]
    if prov["search_settings"]:
        parts += ["", "### Search settings", "", block(prov["search_settings"])]
    if prov["linearize_settings"]:
        parts += ["", "### Linearisation settings", "", block(prov["linearize_settings"])]
    if prov["run_configs"]:
        parts += ["", "### Run configuration", "", block(prov["run_configs"])]
    parts += ["", "### Provenance (machine-readable)", "", block({k: prov[k] for k in (
        "tasks", "models", "search_agents", "n_trees", "n_traces", "n_traces_per_arm")}), ""]
    return "\n".join(parts)


# ----------------------------------------------------------------------------- the command


def export(sources: list[str], out: Path, fmt: str = "parquet", name: str | None = None, overwrite: bool = False,
           command: str = "astro export") -> dict[str, Any]:
    """Write the dataset folder `out` from `sources`; returns a summary (configs, counts).

    Everything is read and checked before anything is written; the folder is assembled in a
    temporary sibling and moved into place, so a failure leaves `out` as it was.
    """
    if fmt not in ("parquet", "jsonl"):
        raise UserError(f"--format {fmt!r}: use parquet or jsonl.")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise UserError(f"--out {out} exists and is not empty; choose another folder or pass --overwrite.")
    found = find_sources(sources)
    trees = [tree_row(r) for p in found["trees"] for r in read_jsonl(p)]
    traces = [r for p in found["traces"] for r in read_jsonl(p)]
    if not trees and not traces:
        raise UserError(f"the files found in {', '.join(sources)} hold no records.")
    ext = "parquet" if fmt == "parquet" else "jsonl"
    configs: dict[str, dict[str, str]] = {}
    by_arm: dict[str, list[dict]] = {}
    for record in traces:
        by_arm.setdefault(str(record.get("arm") or "train"), []).append(record)
    if traces:
        configs["traces"] = {arm: f"data/traces/{arm}.{ext}" for arm in sorted(by_arm)}
    if trees:
        configs["trees"] = {"train": f"data/trees/train.{ext}"}
    prov = provenance(found, trees, traces, sources)
    name = name or out.resolve().name
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for arm, rows in by_arm.items():
            write_rows(rows, staging / configs["traces"][arm], fmt)
        if trees:
            write_rows(trees, staging / configs["trees"]["train"], fmt)
        (staging / "README.md").write_text(dataset_card(name, configs, trees, traces, prov, command), encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"out": str(out), "configs": configs, "n_trees": len(trees), "n_traces": len(traces)}


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="astro export", description=__doc__.split("\n")[0])
    parser.add_argument("sources", nargs="+", help="a run folder, or trees/traces .jsonl files")
    parser.add_argument("--out", required=True, help="dataset folder to write (README.md + data/)")
    parser.add_argument("--format", default="parquet", choices=("parquet", "jsonl"), help="data file format (default parquet)")
    parser.add_argument("--name", help="dataset name in the card (default: the --out folder's name)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    args = parser.parse_args(argv)
    command = shlex.join(["astro", "export", *(sys.argv[1:] if argv is None else argv)])
    from astro.stages import RunLock
    from astro.validate import check_out

    check_out("--out", args.out, "dir")
    with RunLock.for_file(Path(args.out)):  # beside the folder, which is replaced whole
        summary = export(args.sources, Path(args.out), args.format, args.name, args.overwrite, command)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
