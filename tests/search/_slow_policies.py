"""Policies for the Ray executor tests (a module of their own so Ray workers can import them)."""

import os
import time
from pathlib import Path

from agents.countdown_policy import CountdownPolicy


class SlowCountdownPolicy(CountdownPolicy):
    """The symbolic Countdown policy, slowed down, leaving `<marks>/<pid>` behind in each process that uses it.

    Same samples as `CountdownPolicy(seed)`: sleeping changes no result, it only keeps a shard
    in flight long enough for a test to kill its worker or its driver.
    """

    def __init__(self, marks: str, delay_s: float, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.marks = marks
        self.delay_s = delay_s

    def propose_steps(self, states, n, sampling=None):
        Path(self.marks, str(os.getpid())).touch()
        time.sleep(self.delay_s)
        return super().propose_steps(states, n, sampling)


class FailingCountdownPolicy(CountdownPolicy):
    """Raises for any batch holding the problem `bad_id` (a shard that keeps failing)."""

    def __init__(self, bad_id: str) -> None:
        super().__init__()
        self.bad_id = bad_id

    def propose_steps(self, states, n, sampling=None):
        if any(s.problem.id == self.bad_id for s in states):
            raise ValueError("this problem breaks the policy")
        return super().propose_steps(states, n, sampling)


def broken_engine():
    """An engine factory that always fails (a model that cannot load on the workers)."""
    raise RuntimeError("no engine here")
