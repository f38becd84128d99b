"""GRPO's difficulty filter on the Ray executor: the same pass rates, in problem order."""

import pytest

ray = pytest.importorskip("ray", reason="the Ray executor tests need ray (pip install 'astro-gym[ray]')")

from astro_env.countdown import generate_problems  # noqa: E402
from search.executor import ExecutorConfig  # noqa: E402
from tests.training.test_grpo import GoldPolicy  # noqa: E402
from training.embedded import build_tokenizer  # noqa: E402
from training.grpo import GRPOConfig, estimate_pass_rates  # noqa: E402

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module", autouse=True)
def cluster():
    yield
    ray.shutdown()


def test_pass_rates_on_ray_workers_come_back_in_problem_order():
    problems = generate_problems(5, seed=5)
    policy = GoldPolicy(problems, n_right=[4, 0, 2, 1, 3])
    ray_config = GRPOConfig(pass_rate_samples=4, prompts_per_step=2, executor=ExecutorConfig(kind="ray", n_workers=2))
    rates = estimate_pass_rates(policy, build_tokenizer(kind="char"), problems, ray_config)
    assert rates == [1.0, 0.0, 0.5, 0.25, 0.75]
