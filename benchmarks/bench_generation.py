"""Generation speed of TransformersPolicy's sampling loop against `model.generate`.

Prints one JSON line: tokens per second for each batch size, for our loop (lean Llama
decoder), our loop over the transformers forward (`fast_decode=False`) and HF `generate`
(KV cache, left padding, sampling at temperature 1), on a random-init embedded
Llama (hidden 128, 4 layers, 4 heads, MLP 512, tied embeddings) with a 256-token BPE.
Every row generates exactly `--new-tokens` tokens (eos disabled), so all count the same work.
`*_tok_s` divides by wall time, `*_tok_per_cpu_s` by this process's CPU time (steadier when
other processes share the cores).

    python -m benchmarks.bench_generation --batch-sizes 8 32 --new-tokens 64 --threads 1
"""

from __future__ import annotations

import json
import random
import time

from astro_env.errors import OneLineParser


def _corpus(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    texts = []
    for _ in range(n):
        nums = [rng.randint(1, 99) for _ in range(4)]
        a, b = nums[0], nums[1]
        texts.append(
            f"Numbers: {' '.join(map(str, nums))}\nTarget: {rng.randint(1, 999)}\n\n"
            f"{a}*{b}={a * b}\n\n({a}*{b})-{nums[2]}={a * b - nums[2]}\n\n\\boxed{{({a}*{b})-{nums[2]}}}"
        )
    return texts


def _prompts(batch: int, shared: bool, seed: int) -> list[str]:
    texts = [t.split("\n\n")[0] + "\n\n" for t in _corpus(batch, seed)]
    return [texts[0]] * batch if shared else texts


def _time(fns: dict, repeats: int) -> dict[str, tuple[float, float]]:
    """Best (wall seconds, process CPU seconds) per function over `repeats` runs, interleaved so
    that load from other processes hits every contender alike; one warm-up run each first.
    The minimum is the least noisy estimate on a shared machine."""
    for fn in fns.values():
        fn()
    walls: dict[str, list[float]] = {name: [] for name in fns}
    cpus: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    return {name: (min(walls[name]), min(cpus[name])) for name in fns}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON line; returns 0."""
    parser = OneLineParser(prog="bench_generation", description=__doc__.splitlines()[0])
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[8, 32], help="Sequences generated together.")
    parser.add_argument("--new-tokens", type=int, default=64, help="Tokens generated per sequence.")
    parser.add_argument("--repeats", type=int, default=3, help="Timed repetitions (best reported) after one warm-up.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads.")
    parser.add_argument("--shared-prompt", action="store_true", help="All rows sample one prompt (n samples) instead of distinct prompts.")
    parser.add_argument("--skip-hf", action="store_true", help="Time only our loop.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    from agents.base import PolicyConfig, SamplingConfig
    from agents.hf import TransformersPolicy
    from training.embedded import ModelConfig, build_model, build_tokenizer

    torch.set_num_threads(args.threads)
    tokenizer = build_tokenizer(_corpus(2000, args.seed), vocab_size=256)
    model = build_model(tokenizer, ModelConfig(hidden_size=128, n_layers=4, n_heads=4, intermediate_size=512), seed=args.seed)
    model.eval()
    policy = TransformersPolicy(model, tokenizer, PolicyConfig(max_batch_size=max(args.batch_sizes)))
    policy.eos_token_ids = frozenset()
    sampling = SamplingConfig(max_tokens=args.new_tokens, temperature=1.0, seed=args.seed)

    result: dict = {
        "bench": "generation",
        "new_tokens": args.new_tokens,
        "threads": args.threads,
        "shared_prompt": args.shared_prompt,
        "vocab_size": len(tokenizer),
        "device": str(next(model.parameters()).device),
        "ours_tok_s": {},
        "ours_hf_forward_tok_s": {},
        "hf_generate_tok_s": {},
        "ours_tok_per_cpu_s": {},
        "ours_hf_forward_tok_per_cpu_s": {},
        "hf_generate_tok_per_cpu_s": {},
    }
    for batch in args.batch_sizes:
        prompts = _prompts(batch, args.shared_prompt, args.seed + batch)
        n_tokens = batch * args.new_tokens

        def ours(fast: bool = True) -> None:
            policy.fast_decode = fast
            out = policy.complete(prompts, 1, sampling)
            assert sum(c.n_tokens for row in out for c in row) == n_tokens

        fns = {"ours": ours}
        if not args.skip_hf:
            fns["ours_hf_forward"] = lambda: ours(fast=False)
            fns["hf_generate"] = _hf_runner(model, tokenizer, prompts, args.new_tokens)
        for name, (wall, cpu) in _time(fns, args.repeats).items():
            result[f"{name}_tok_s"][str(batch)] = round(n_tokens / wall, 1)
            result[f"{name}_tok_per_cpu_s"][str(batch)] = round(n_tokens / cpu, 1)
    print(json.dumps(result))
    return 0


def _hf_runner(model, tokenizer, prompts: list[str], new_tokens: int):
    """A function running `model.generate` on `prompts` (left padding, sampling, exactly `new_tokens`)."""
    import torch

    tokenizer.padding_side = "left"
    enc = tokenizer(prompts, return_tensors="pt", padding=True)

    def hf() -> None:
        with torch.inference_mode():
            out = model.generate(
                **enc,
                do_sample=True,
                temperature=1.0,
                top_p=1.0,
                top_k=0,
                max_new_tokens=new_tokens,
                min_new_tokens=new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,
            )
        assert out.shape[1] - enc["input_ids"].shape[1] == new_tokens

    return hf


if __name__ == "__main__":
    raise SystemExit(main())
