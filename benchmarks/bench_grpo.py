"""`astro bench grpo`: GRPO steps per second on the shared workload, optionally beside TRL.

Shared workload (identical for both trainers): a random-init Llama (hidden 128, 4 layers,
4 heads, MLP 512, tied embeddings) with a 256-token BPE trained on synthetic arithmetic text;
prompts "Q: 17*4=? A:" with an exact-integer reward; one prompt x 8 generations per step,
at most 64 completion tokens, temperature 1, 10 steps, one torch thread.

`gen_tokens_per_s_end_to_end` = generated tokens / wall time of the whole steps (generation,
reward, loss, optimizer), summed over the timed steps. Prints one JSON line. With
`--repeats N` the runs alternate (ours, TRL, ours, ...) and the median run of each is reported,
since a shared machine's load changes from one run to the next.

    astro bench grpo --threads 1 --seed 0 --vs-trl --json --repeats 3
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import sys
import time
from dataclasses import dataclass
from typing import Any

from astro_env.errors import OneLineParser

HIDDEN, LAYERS, HEADS, MLP, VOCAB = 128, 4, 4, 512, 256
GROUP_SIZE, MAX_COMPLETION_TOKENS, STEPS = 8, 64, 10
LEARNING_RATE = 1e-5

_INT = re.compile(r"\s*(-?\d+)")


def arithmetic_reward(completion: str, answer: int) -> float:
    """1.0 when the completion starts with exactly the integer `answer` (leading spaces allowed), else 0.0."""
    match = _INT.match(completion)
    return 1.0 if match is not None and int(match.group(1)) == int(answer) else 0.0


def arithmetic_examples(n: int, seed: int) -> list[tuple[str, int]]:
    """`n` (prompt, answer) pairs "Q: a*b=? A:" with a, b in 2..99 (seeded)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        out.append((f"Q: {a}*{b}=? A:", a * b))
    return out


@dataclass
class Workload:
    tokenizer: Any
    model: Any
    prompts: list[tuple[str, int]]


def build_workload(seed: int = 0, n_prompts: int = 64) -> Workload:
    """The shared tokenizer, random-init model and prompts (same seed, same everything)."""
    from training.embedded import ModelConfig, build_model, build_tokenizer

    corpus = [f"{p} {a}\n" for p, a in arithmetic_examples(2000, seed + 1)]
    tokenizer = build_tokenizer(corpus, vocab_size=VOCAB, kind="bpe")
    config = ModelConfig(hidden_size=HIDDEN, n_layers=LAYERS, n_heads=HEADS, intermediate_size=MLP, tie_word_embeddings=True)
    model = build_model(tokenizer, config, seed=seed)
    return Workload(tokenizer=tokenizer, model=model, prompts=arithmetic_examples(n_prompts, seed))


def _summary(step_times: list[float], step_tokens: list[int]) -> dict[str, float]:
    total_time = sum(step_times)
    return {
        "sec_per_step": total_time / len(step_times),
        "gen_tokens_per_s_end_to_end": sum(step_tokens) / total_time,
        "gen_tokens_per_step": sum(step_tokens) / len(step_tokens),
        "first_step_s": step_times[0],
    }


def _median_run(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median end-to-end throughput (all its fields, so they stay consistent)."""
    ranked = sorted(runs, key=lambda r: r["gen_tokens_per_s_end_to_end"])
    return ranked[(len(ranked) - 1) // 2]


def run_ours(work: Workload, steps: int, seed: int) -> dict[str, float]:
    """Our GRPO step (policy generation, reward, advantages, clipped token loss, AdamW) timed per step."""
    import torch

    from agents.base import PolicyConfig, SamplingConfig
    from agents.hf import TransformersPolicy
    from training.grpo import GRPOConfig, collate, grpo_update, make_optimizer
    from training.objectives import group_advantages

    model, tokenizer = work.model, work.tokenizer
    model.train()
    policy = TransformersPolicy(model, tokenizer, PolicyConfig(device="cpu", dtype="float32", max_batch_size=GROUP_SIZE, seed=seed))
    config = GRPOConfig(group_size=GROUP_SIZE, prompts_per_step=1, lr=LEARNING_RATE, reward="binary")
    optimizer = make_optimizer(model, config)
    rng = random.Random(seed)
    step_times, step_tokens = [], []
    for step in range(steps):
        prompt, answer = rng.choice(work.prompts)
        start = time.perf_counter()
        prompt_ids = tokenizer([prompt])["input_ids"]
        sampling = SamplingConfig(max_tokens=MAX_COMPLETION_TOKENS, temperature=1.0, seed=seed * 100_003 + step)
        completions = policy.complete_ids(prompt_ids, GROUP_SIZE, sampling)[0]
        rewards = torch.tensor([arithmetic_reward(c.text, answer) for c in completions])
        advantages = group_advantages(rewards, GROUP_SIZE).tolist()
        batch = collate(prompt_ids * GROUP_SIZE, [c.token_ids for c in completions], advantages,
                        [1.0] * GROUP_SIZE, tokenizer.pad_token_id)
        grpo_update(model, optimizer, batch, config)
        step_times.append(time.perf_counter() - start)
        step_tokens.append(sum(c.n_tokens for c in completions))
    return _summary(step_times, step_tokens)


def run_trl(work: Workload, steps: int, seed: int) -> dict[str, float]:
    """TRL's GRPOTrainer on the identical workload (no logging, no saving), timed per step."""
    import warnings

    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    warnings.filterwarnings("ignore")
    answers = {p: a for p, a in work.prompts}
    step_tokens: list[int] = []

    def reward(prompts, completions, completion_ids=None, **_: Any) -> list[float]:
        step_tokens.append(sum(len(ids) for ids in completion_ids) if completion_ids is not None else 0)
        return [arithmetic_reward(c, answers[p]) for p, c in zip(prompts, completions)]

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self._start = 0.0

        def on_step_begin(self, args, state, control, **kw):
            self._start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            self.times.append(time.perf_counter() - self._start)

    args = GRPOConfig(
        output_dir=os.path.join(os.environ.get("TMPDIR", "/tmp"), f"astro-bench-trl-{os.getpid()}"),
        num_generations=GROUP_SIZE,
        per_device_train_batch_size=GROUP_SIZE,
        max_completion_length=MAX_COMPLETION_TOKENS,
        max_steps=steps,
        learning_rate=LEARNING_RATE,
        temperature=1.0,
        beta=0.0,
        use_cpu=True,
        bf16=False,
        report_to="none",
        logging_strategy="no",
        save_strategy="no",
        disable_tqdm=True,
        seed=seed,
        dataloader_num_workers=0,
    )
    dataset = Dataset.from_list([{"prompt": p} for p, _ in work.prompts])
    timer = Timer()
    trainer = GRPOTrainer(
        model=work.model,
        reward_funcs=[reward],
        args=args,
        train_dataset=dataset,
        processing_class=work.tokenizer,
        callbacks=[timer],
    )
    with contextlib.redirect_stdout(sys.stderr):  # the trainer prints its final metrics; keep stdout one JSON line
        trainer.train()
    return _summary(timer.times, step_tokens[: len(timer.times)])


def main(argv: list[str] | None = None) -> int:
    parser = OneLineParser(prog="astro bench grpo", description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared).")
    parser.add_argument("--seed", type=int, default=0, help="workload and sampling seed.")
    parser.add_argument("--steps", type=int, default=STEPS, help=f"GRPO steps to time (default {STEPS}; CI uses fewer).")
    parser.add_argument("--json", action="store_true", help="print only the JSON line.")
    parser.add_argument("--vs-trl", action="store_true", help="also run TRL's GRPOTrainer on the same workload and print the ratio.")
    parser.add_argument("--repeats", type=int, default=1,
                        help="alternate the runs this many times and report medians (a shared machine is noisy).")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.repeats < 1:
        parser.error("--steps and --repeats must be >= 1")

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    torch.set_num_threads(args.threads)
    result: dict[str, Any] = {"bench": "grpo", "threads": args.threads, "seed": args.seed, "steps": args.steps,
                              "group_size": GROUP_SIZE, "max_completion_tokens": MAX_COMPLETION_TOKENS}
    ours_runs, trl_runs = [], []
    for _ in range(args.repeats):
        ours_runs.append(run_ours(build_workload(args.seed), args.steps, args.seed))
        if args.vs_trl:
            trl_runs.append(run_trl(build_workload(args.seed), args.steps, args.seed))
    ours = _median_run(ours_runs)
    result.update(ours)
    result["repeats"] = args.repeats
    if args.vs_trl:
        trl = _median_run(trl_runs)
        result.update({f"trl_{k}": v for k, v in trl.items()})
        result["ratio_vs_trl"] = ours["gen_tokens_per_s_end_to_end"] / trl["gen_tokens_per_s_end_to_end"]
    if not args.json:
        print(f"ours: {ours['gen_tokens_per_s_end_to_end']:.0f} generated tokens/s end to end, "
              f"{ours['sec_per_step']:.3f} s/step", file=sys.stderr)
        if args.vs_trl:
            print(f"TRL:  {result['trl_gen_tokens_per_s_end_to_end']:.0f} tokens/s; ratio {result['ratio_vs_trl']:.2f}x",
                  file=sys.stderr)
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
