"""Train on astro-gym's environment with your own TRL `GRPOTrainer` script.

Two ways in, both with TRL's own trainer, config and model (nothing of astro-gym's training loop):

- `--mode rollout` (default): TRL's environment interface. `EnvironmentRollout` is the
  trainer's `rollout_func`: each prompt becomes an episode of the task's Gymnasium environment,
  sampled with the live model, and `environment_reward` hands TRL the environment's 0/1 return.
- `--mode reward`: TRL samples as usual and `EnvironmentReward` replays each completion through
  the environment as a reward function (the dataset's `problem_id` column says which problem).

    python examples/trl_grpo.py --model runs/x/base --task countdown --max-steps 50 --out runs/trl-grpo

`--model` is any causal LM folder or hub name (e.g. `astro pretrain`'s output); `--task` any
`astro_env.get_task` name; `--problems` a problem file or benchmark name instead of generated
problems. TRL's GRPOConfig takes everything else (vLLM, DeepSpeed, LoRA through `peft_config`).
"""

from __future__ import annotations

import argparse

from astro_env import get_task
from astro_env.loaders import load_problems
from training.grpo_trl import EnvironmentReward, EnvironmentRollout, environment_reward, trl_dataset


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="causal LM folder or hub name to train")
    parser.add_argument("--task", default="countdown", help="astro task name (countdown, math, reasoning_gym:chain_sum, ...)")
    parser.add_argument("--problems", default="", help="problem .jsonl file or benchmark name (default: the task generates them)")
    parser.add_argument("--n-problems", type=int, default=256)
    parser.add_argument("--mode", choices=("rollout", "reward"), default="rollout")
    parser.add_argument("--out", default="runs/trl-grpo")
    parser.add_argument("--max-steps", type=int, default=50)
    parser.add_argument("--num-generations", type=int, default=4, help="completions per prompt (GRPO's group size)")
    parser.add_argument("--prompts-per-step", type=int, default=4)
    parser.add_argument("--max-completion-length", type=int, default=128)
    parser.add_argument("--learning-rate", type=float, default=1e-5)
    parser.add_argument("--report-to", default="none", choices=("tensorboard", "wandb", "none"))
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    task = get_task(args.task)
    problems = load_problems(args.problems, limit=args.n_problems) if args.problems else task.generate(args.n_problems, args.seed)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    config = GRPOConfig(
        output_dir=args.out,
        max_steps=args.max_steps,
        num_generations=args.num_generations,
        per_device_train_batch_size=args.num_generations * args.prompts_per_step,
        max_completion_length=args.max_completion_length,
        learning_rate=args.learning_rate,
        temperature=1.0,
        logging_steps=1,
        save_strategy="no",
        report_to=args.report_to,
        seed=args.seed,
        use_cpu=not torch.cuda.is_available(),
        bf16=False,
    )
    if args.mode == "rollout":
        trainer = GRPOTrainer(model=model, args=config, train_dataset=trl_dataset(problems), processing_class=tokenizer,
                              rollout_func=EnvironmentRollout(problems), reward_funcs=[environment_reward])
    else:
        trainer = GRPOTrainer(model=model, args=config, train_dataset=trl_dataset(problems), processing_class=tokenizer,
                              reward_funcs=[EnvironmentReward(problems, eos_token_id=tokenizer.eos_token_id)])
    trainer.train()
    trainer.save_model(args.out)
    tokenizer.save_pretrained(args.out)


if __name__ == "__main__":
    main()
