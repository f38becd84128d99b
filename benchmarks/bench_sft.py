"""SFT throughput on a fixed shared workload: `astro bench sft [--threads 1] [--json] [--vs-trl]`.

Workload (identical for our trainer and TRL's, so the ratio is like for like): a random-init
Llama (hidden 128, 4 layers, 4 heads, MLP 512, tied embeddings) with a 256-token BPE trained
locally by `build_tokenizer`, synthetic arithmetic lines ("Q: 17*4=? A: 68" + EOS) packed
into 256-token blocks, 200 optimizer steps of batch 16 (no accumulation), loss on all tokens,
AdamW with a cosine schedule, one torch thread, fp32; no logging, evaluation or saving.

Ours is `training.sft.train_sft` (the real `astro sft` loop); TRL's is `SFTTrainer` with
`packing_strategy="wrapped"` (the same fixed blocks) on a pre-tokenised dataset holding the
very token ids ours trains on. Both start from the same saved initial weights; each side is timed over its training loop only (data preparation and
model loading excluded). Prints one JSON line (`tokens_per_s`, and with `--vs-trl`
`trl_tokens_per_s` and `ratio_vs_trl`). The machine may be shared: compare only numbers
printed by one run.
"""

from __future__ import annotations

import contextlib
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from astro_env.errors import OneLineParser

SEQ_LEN = 256
BATCH_SIZE = 16
LR = 1e-3


def arithmetic_lines(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` (prompt, completion) pairs like ("Q: 17*4=? A:", " 68"), exact integer answers."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b, op = rng.randint(1, 99), rng.randint(1, 99), rng.choice("+-*")
        value = a + b if op == "+" else a - b if op == "-" else a * b
        out.append((f"Q: {a}{op}{b}=? A:", f" {value}"))
    return out


def _build_workload(root: Path, steps: int, seed: int) -> tuple[Path, Path, int]:
    """(model dir, traces path, n_examples): the shared init and data, written under `root`."""
    from training.data import tokenize_example
    from training.embedded import ModelConfig, build_model, build_tokenizer, save_policy

    pairs = arithmetic_lines(2000, seed)
    tokenizer = build_tokenizer([p + c for p, c in pairs], vocab_size=256)
    model = build_model(tokenizer, ModelConfig(hidden_size=128, n_layers=4, n_heads=4, intermediate_size=512), seed=seed)
    model_dir = save_policy(model, tokenizer, root / "init")
    # ~ tokens per example, with a 15% margin so both trainers have `steps` full batches
    sample = [len(tokenize_example(tokenizer, p, c).input_ids) for p, c in pairs[:200]]
    n_examples = int(1.15 * steps * BATCH_SIZE * SEQ_LEN / (sum(sample) / len(sample))) + 1
    traces = root / "traces.jsonl"
    with traces.open("w", encoding="utf-8") as fh:
        for idx, (prompt, completion) in enumerate(arithmetic_lines(n_examples, seed + 1)):
            fh.write(json.dumps({"problem_id": f"arith/{idx}", "arm": "direct", "prompt": prompt, "completion": completion}) + "\n")
    return model_dir, traces, n_examples


def run_ours(model_dir: Path, traces: Path, out: Path, steps: int, seed: int) -> dict:
    """Our trainer's numbers (`tokens_per_s`, `sec_per_step`, `final_loss`)."""
    from training.sft import SFTConfig, train_sft

    config = SFTConfig(
        traces=str(traces), model=str(model_dir), out=str(out), packing=True, max_length=SEQ_LEN,
        batch_size=BATCH_SIZE, max_steps=steps, lr=LR, warmup_ratio=0.05, seed=seed,
        mixed_precision="no", save_every=0, log_every=0, report_to="none", resume=False,
    )
    train_sft(config)
    summary = json.loads((out / "sft_summary.json").read_text(encoding="utf-8"))
    if summary["n_steps"] != steps:
        raise RuntimeError(f"ours ran {summary['n_steps']} steps, expected {steps}")
    tokens = steps * BATCH_SIZE * SEQ_LEN
    return {
        "tokens_per_s": tokens / summary["train_seconds"],
        "sec_per_step": summary["train_seconds"] / steps,
        "final_loss": summary["final_loss"],
    }


def run_trl(model_dir: Path, traces: Path, out: Path, steps: int, seed: int) -> dict:
    """TRL SFTTrainer's numbers on the same init, data and steps."""
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig as TRLConfig
    from trl import SFTTrainer

    from astro_env.jsonl import read_jsonl
    from training.data import tokenize_example

    try:  # our run created the process-wide accelerate state; give TRL a fresh one
        from accelerate.state import AcceleratorState, GradientState, PartialState

        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        PartialState._reset_state()
    except Exception:  # pragma: no cover - private API moved
        pass
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    # the very token ids our trainer sees (prompt and completion tokenised apart, + EOS)
    rows = [{"input_ids": list(tokenize_example(tokenizer, r["prompt"], r["completion"]).input_ids)} for r in read_jsonl(traces)]
    dataset = datasets.Dataset.from_list(rows)
    args = TRLConfig(
        output_dir=str(out), max_steps=steps, per_device_train_batch_size=BATCH_SIZE, gradient_accumulation_steps=1,
        learning_rate=LR, lr_scheduler_type="cosine", warmup_steps=int(0.05 * steps), weight_decay=0.0, adam_beta2=0.95,
        max_grad_norm=1.0, packing=True, packing_strategy="wrapped", max_length=SEQ_LEN, completion_only_loss=False,
        logging_strategy="no", save_strategy="no", eval_strategy="no", report_to="none", use_cpu=True,
        dataloader_num_workers=0, seed=seed, disable_tqdm=True, bf16=False, fp16=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
    with contextlib.redirect_stdout(sys.stderr):  # Trainer prints its metrics dict; keep stdout one JSON line
        t0 = time.perf_counter()
        result = trainer.train()
        seconds = time.perf_counter() - t0
    if trainer.state.global_step != steps:
        raise RuntimeError(f"TRL ran {trainer.state.global_step} steps, expected {steps}")
    tokens = steps * BATCH_SIZE * SEQ_LEN
    return {"tokens_per_s": tokens / seconds, "sec_per_step": seconds / steps, "final_loss": float(result.training_loss)}


def main(argv: list[str] | None = None) -> int:
    """`astro bench sft`: run the shared SFT workload; print one JSON line. Returns 0."""
    parser = OneLineParser(prog="astro bench sft", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1; compare within one run)")
    parser.add_argument("--steps", type=int, default=200, help="optimizer steps (default 200; CI runs fewer)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--vs-trl", action="store_true", help="also run TRL's SFTTrainer and print the ratio")
    parser.add_argument("--json", action="store_true", help="print only the JSON line")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.threads < 1:
        parser.error("--steps and --threads must be >= 1")

    import torch
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        import datasets

        datasets.disable_progress_bars()
    except ImportError:  # only TRL's side needs datasets
        pass
    with tempfile.TemporaryDirectory(prefix="bench_sft_") as tmp:
        root = Path(tmp)
        model_dir, traces, n_examples = _build_workload(root, args.steps, args.seed)
        ours = run_ours(model_dir, traces, root / "ours", args.steps, args.seed)
        result = {
            "bench": "sft",
            "steps": args.steps,
            "batch_size": BATCH_SIZE,
            "seq_len": SEQ_LEN,
            "threads": args.threads,
            "n_examples": n_examples,
            "tokens_per_s": round(ours["tokens_per_s"], 1),
            "sec_per_step": round(ours["sec_per_step"], 4),
            "final_loss": round(ours["final_loss"], 4),
        }
        if not args.json:
            print(f"ours: {ours['tokens_per_s']:.0f} tokens/s, final loss {ours['final_loss']:.3f}", file=sys.stderr)
        if args.vs_trl:
            trl = run_trl(model_dir, traces, root / "trl", args.steps, args.seed)
            result.update({
                "trl_tokens_per_s": round(trl["tokens_per_s"], 1),
                "trl_sec_per_step": round(trl["sec_per_step"], 4),
                "trl_final_loss": round(trl["final_loss"], 4),
                "ratio_vs_trl": round(ours["tokens_per_s"] / trl["tokens_per_s"], 3),
            })
            if not args.json:
                print(f"TRL:  {trl['tokens_per_s']:.0f} tokens/s; ours/TRL = {result['ratio_vs_trl']:.2f}x", file=sys.stderr)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
