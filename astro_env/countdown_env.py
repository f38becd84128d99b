"""`astro/Countdown-v0`: the Countdown task's Gymnasium id (a `ReasoningEnv` fixed to the task)."""

from __future__ import annotations

from astro_env.envs import ReasoningEnv


class CountdownEnv(ReasoningEnv):
    """Reach a target from given numbers with + - * /, one step at a time (`astro/Countdown-v0`).

    ## Observation
    `Text` over `CHARSET`: the prompt `"Numbers: 3 5 7\\nTarget: 26\\n\\n"` followed by each
    step and the delimiter (`ReasoningState.text`).

    ## Action
    The next step as a `str`, e.g. `"7*5=35; left: 3 35"`, `"35-3=32; left: 32"`, `"\\boxed{(5*7)-3}"` (see
    `astro_env.countdown` for the grammar; the environment does not enforce it, a policy may
    write any text). Whitespace stripping, cutting at `max_step_chars`, U+FFFD replacement and
    ValueErrors as for `MathReasoningEnv`.

    ## Reward
    0 for a step without `\\boxed{...}`; at the boxed step, `CountdownTask.reward` of the whole
    solution: correct iff the expression uses each number exactly once and equals the target
    (several conflicting boxes earn nothing). Binary 1/0 or signed +1/-1; truncation earns the
    failure reward.

    ## Episode End
    Terminated at the first boxed step; truncated after `max_steps` steps or `max_chars`
    characters; `step` afterwards raises RuntimeError.

    ## Info
    `answer`, `correct`, `depth`, `problem_id`, `step_truncated`.

    ## Arguments
    As `astro_env.envs.MathReasoningEnv`; `problems=None` uses `astro_env.countdown.generate_problems(1000, seed=0)`.

    ## Version History
    - v0: initial version.
    """

    task_name = "countdown"
