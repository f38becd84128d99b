"""One executor seam for the embarrassingly parallel stages: run shards of problems locally or on Ray.

Tree search, self-evaluation, GRPO's pass-rate estimation and evaluation each cut their
problems into `Shard`s (aligned with the batches a local run would make, so the seeds each
batch derives stay the same) and hand them to `map_shards` with a `work(engine, shard)`
function. `map_shards` calls `on_result(shard, result)` in the driver once per finished
shard; the stage writes the records there, through the same append-only JSONL writer and
with the same resume rules as before. Only the driver writes, and a shard's result arrives
whole or not at all, so a worker lost mid-shard loses nothing and duplicates nothing: its
shard simply runs again.

- `ExecutorConfig(kind="local")` (the default) runs the shards in order in this process with
  the caller's policy: exactly the behaviour the stages had before the seam.
- `ExecutorConfig(kind="ray")` runs them on a pool of Ray actors, each holding one policy
  engine built inside the actor by `engine_factory(policy)`: from the policy's `PolicyConfig`
  (its saved weights) when it has one naming a model, else the policy object itself, shipped
  by value (the symbolic Countdown policy, scripted and oracle policies). Without
  `ray_address` a local cluster is started (`ray.init(num_cpus=local_num_cpus)`); with one,
  the run joins that cluster (`ray start --head` / `ray start --address ...`).

Faults (ray): a worker process that dies mid-shard is replaced and its shard is submitted
again, preferably to another worker; a shard whose work raises is retried the same way. A
shard that fails `max_attempts` times is set aside and the other shards finish; then
`ShardsFailed` is raised naming every failed shard's problem ids. A driver killed mid-run
resumes from what the stage wrote (the stage skips shards whose records are all there).

Ray is imported only when `kind == "ray"`; nothing here imports torch.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Literal, Sequence, TypeVar

from agents import PolicyConfig, build_policy

__all__ = ["ExecutorConfig", "RemotePolicy", "Shard", "ShardRun", "ShardsFailed", "engine_factory", "make_shards", "map_shards", "policy_for"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class ExecutorConfig:
    """Where the embarrassingly parallel stages run: in this process, or on a Ray cluster."""

    kind: Literal["local", "ray"] = "local"
    """`local`: shards run in order in this process; `ray`: on a pool of Ray actors, one policy engine each."""
    ray_address: str | None = None
    """Ray cluster to join (e.g. `auto` or `10.0.0.1:6379`); None starts a local cluster with `local_num_cpus`."""
    n_workers: int = 0
    """Actors in the pool (ray), capped at what the cluster fits; 0: as many as its CPUs (or GPUs) fit at the per-worker request."""
    cpus_per_worker: float = 1.0
    """CPUs each actor reserves (ray)."""
    gpus_per_worker: float = 0.0
    """GPUs each actor reserves (ray); set it to the GPUs one policy engine (e.g. one vLLM engine) needs."""
    max_attempts: int = 3
    """Tries per shard before it is reported as failed (ray); a lost worker or an exception costs one try."""
    local_num_cpus: int = 2
    """CPUs of the local cluster started when `ray_address` is None."""

    def __post_init__(self) -> None:
        if self.kind not in ("local", "ray"):
            raise ValueError(f"executor kind={self.kind!r}: use 'local' or 'ray'.")
        if self.n_workers < 0:
            raise ValueError(f"n_workers={self.n_workers}: use >= 1, or 0 to fill the cluster.")
        if self.cpus_per_worker < 0 or self.gpus_per_worker < 0:
            raise ValueError("cpus_per_worker and gpus_per_worker must be >= 0.")
        if self.cpus_per_worker == 0 and self.gpus_per_worker == 0 and self.n_workers == 0:
            raise ValueError("with cpus_per_worker = gpus_per_worker = 0, give n_workers >= 1 (nothing bounds the pool).")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts={self.max_attempts}: use >= 1.")
        if self.local_num_cpus < 1:
            raise ValueError(f"local_num_cpus={self.local_num_cpus}: use >= 1.")


@dataclass(frozen=True)
class Shard(Generic[T]):
    """A unit of work: consecutive items (problems, trees) of a stage, with the index of the first.

    `start` is the first item's position in the stage's full list, so a stage whose seeds
    derive from batch positions reproduces a local run's seeds exactly.
    """

    index: int
    start: int
    items: tuple[T, ...]
    ids: tuple[str, ...]
    """Problem ids of `items` (for progress and for failure reports)."""

    def __len__(self) -> int:
        return len(self.items)


def make_shards(items: Sequence[T], size: int, id_of: Callable[[T], str], skip: Callable[[Sequence[T]], bool] = lambda _: False) -> list[Shard[T]]:
    """Consecutive shards of `size` items (the last may be shorter), minus those `skip` accepts.

    Shard `index` and `start` count over every shard, skipped ones included, so the shards
    of a resumed run are the same as a fresh run's.
    """
    if size < 1:
        raise ValueError(f"shard size={size}: use >= 1.")
    out: list[Shard[T]] = []
    for index, start in enumerate(range(0, len(items), size)):
        part = tuple(items[start : start + size])
        if not skip(part):
            out.append(Shard(index=index, start=start, items=part, ids=tuple(id_of(x) for x in part)))
    return out


class ShardsFailed(RuntimeError):
    """Raised after a run whose listed shards failed `max_attempts` times (every other shard finished)."""

    def __init__(self, failures: Sequence[tuple[Shard, str]]) -> None:
        self.failures = list(failures)
        self.problem_ids = [i for shard, _ in failures for i in shard.ids]
        lines = [f"shard {shard.index} (problems {', '.join(shard.ids)}): {error}" for shard, error in failures]
        super().__init__(
            f"{len(failures)} shard(s) failed on every attempt; the other shards' records are written, "
            "fix the cause and run the same command again to finish them:\n  " + "\n  ".join(lines)
        )


@dataclass(frozen=True)
class ShardRun:
    """What `map_shards` did: items done per worker (key: `host:pid`) and the retries it took."""

    n_shards: int
    n_items: int
    per_worker: dict[str, int]
    n_retries: int
    n_workers_lost: int


@dataclass(frozen=True)
class RemotePolicy:
    """Stands in, in the driver, for a model policy that only the executor's workers load.

    A Ray driver then holds no model (and no GPU); `name` matches the built backend's name,
    so resume checks see the same model. `map_shards` with the local executor builds it.
    """

    config: PolicyConfig

    @property
    def name(self) -> str:
        return f"{self.config.backend}:{self.config.model}"

    def propose_steps(self, states: Any, n: int, sampling: Any = None) -> Any:
        raise RuntimeError("RemotePolicy is built only inside executor workers; pass it to map_shards, or build_policy(config).")

    def complete(self, prompts: Any, n: int, sampling: Any = None) -> Any:
        raise RuntimeError("RemotePolicy is built only inside executor workers; pass it to map_shards, or build_policy(config).")


def policy_for(config: PolicyConfig, executor: ExecutorConfig) -> Any:
    """The policy a command hands its stage: built here, or a `RemotePolicy` when Ray workers load the model."""
    if executor.kind == "ray" and config.model:
        return RemotePolicy(config)
    return build_policy(config)


def engine_factory(policy: Any) -> Callable[[], Any]:
    """A picklable zero-argument callable that builds `policy`'s engine inside a worker.

    A policy carrying a `PolicyConfig` with a model (transformers, vLLM, OpenAI) is rebuilt with
    `agents.build_policy(policy.config)`, i.e. from its saved weights, not its in-memory ones;
    any other policy (symbolic, scripted, oracle) is shipped by value and must be picklable.
    """
    config = getattr(policy, "config", None)
    if isinstance(config, PolicyConfig) and config.model:
        return functools.partial(build_policy, config)
    return functools.partial(_same, policy)


def _same(obj: Any) -> Any:
    return obj


def map_shards(
    shards: Sequence[Shard[T]],
    work: Callable[[Any, Shard[T]], R],
    policy: Any,
    config: ExecutorConfig,
    on_result: Callable[[Shard[T], R], None],
    *,
    factory: Callable[[], Any] | None = None,
) -> ShardRun:
    """Run `work(engine, shard)` for every shard and call `on_result(shard, result)` in this process.

    local: in shard order with `policy` as the engine; an exception propagates at once (as
    the stages always did). ray: on actors whose engine is `factory()` (default
    `engine_factory(policy)`), results in completion order; `work` must be picklable (a
    module-level function or a `functools.partial` of one). Each shard's `on_result` runs
    exactly once. Raises `ShardsFailed` after the other shards finish when some shard failed
    `config.max_attempts` times. Progress bars belong to the caller (update them in `on_result`).
    """
    if config.kind == "local":
        if isinstance(policy, RemotePolicy):
            policy = build_policy(policy.config)
        counts: Counter[str] = Counter()
        for shard in shards:
            on_result(shard, work(policy, shard))
            counts[f"local:{os.getpid()}"] += len(shard)
        return ShardRun(len(shards), sum(len(s) for s in shards), dict(counts), 0, 0)
    if not shards:
        return ShardRun(0, 0, {}, 0, 0)
    return _RayPool(config, factory or engine_factory(policy)).run(list(shards), work, on_result)


# ----------------------------------------------------------------------------------------- ray


def connect(config: ExecutorConfig) -> None:
    """Join `config.ray_address`, or start a local cluster of `local_num_cpus` CPUs (no-op when connected).

    A local cluster's workers get this project's root on PYTHONPATH, so they import the same
    code as the driver; on a remote cluster the project must be installed on every node.
    """
    import ray

    if ray.is_initialized():
        return
    if config.ray_address:
        ray.init(address=config.ray_address, log_to_driver=False)
        return
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH", "")) if p)
    ray.init(
        num_cpus=config.local_num_cpus,
        include_dashboard=False,
        log_to_driver=False,
        object_store_memory=256 * 1024**2,
        runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}},
    )


def pool_size(config: ExecutorConfig, resources: dict[str, float]) -> int:
    """Actors to start: as many as `resources` fit at the per-worker request, at most `n_workers` when given.

    More actors than fit would wait for resources forever with a shard in hand, so the pool
    is capped; a cluster where not even one fits raises ValueError naming the shortfall.
    """
    fits = []
    if config.cpus_per_worker > 0:
        fits.append(int(resources.get("CPU", 0) // config.cpus_per_worker))
    if config.gpus_per_worker > 0:
        fits.append(int(resources.get("GPU", 0) // config.gpus_per_worker))
    if fits and min(fits) < 1:
        raise ValueError(
            f"the Ray cluster has {resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs, less than one worker's "
            f"{config.cpus_per_worker:g} CPUs / {config.gpus_per_worker:g} GPUs; lower the per-worker request or add nodes."
        )
    if not fits:
        return config.n_workers
    return min(fits) if not config.n_workers else min(config.n_workers, min(fits))


class _ShardWorker:
    """The actor body: builds one engine, then runs shards on it."""

    def __init__(self, factory: Callable[[], Any]) -> None:
        self.engine = factory()

    def where(self) -> str:
        import socket

        return f"{socket.gethostname()}:{os.getpid()}"

    def run(self, work: Callable[[Any, Shard], Any], shard: Shard) -> Any:
        return work(self.engine, shard)


class _RayPool:
    """Keeps one shard in flight per actor, replaces dead actors, retries and finally reports failures."""

    def __init__(self, config: ExecutorConfig, factory: Callable[[], Any]) -> None:
        import ray

        connect(config)
        self.ray = ray
        self.config = config
        self.actor_cls = ray.remote(num_cpus=config.cpus_per_worker, num_gpus=config.gpus_per_worker, max_restarts=0)(_ShardWorker)
        self.factory_ref = ray.put(factory)
        self.n_actors = pool_size(config, ray.cluster_resources())
        self.names: dict[int, str] = {}  # id(actor) -> host:pid, once known

    def _spawn(self):
        return self.actor_cls.remote(self.factory_ref)

    def run(self, shards: list[Shard], work: Callable, on_result: Callable) -> ShardRun:
        ray = self.ray
        from ray.exceptions import RayActorError, RayTaskError

        work_ref = ray.put(work)
        queue: deque[Shard] = deque(shards)
        attempts: Counter[int] = Counter()
        last_failed_on: dict[int, int] = {}
        idle = [self._spawn() for _ in range(min(self.n_actors, len(shards)))]
        names = {id(a): a.where.remote() for a in idle}
        in_flight: dict[Any, tuple[Any, Shard]] = {}
        counts: Counter[str] = Counter()
        failures: list[tuple[Shard, str]] = []
        n_retries = n_lost = 0
        losses_in_a_row = 0  # workers lost with no shard finished in between: a broken engine, not bad luck
        t0 = time.monotonic()
        logger.info("executor: %d shards (%d problems) on %d Ray workers", len(shards), sum(len(s) for s in shards), len(idle))
        try:
            while queue or in_flight:
                while queue and idle:
                    actor = idle.pop()
                    shard = _pick(queue, last_failed_on, id(actor))
                    in_flight[actor.run.remote(work_ref, shard)] = (actor, shard)
                ready, _ = ray.wait(list(in_flight), num_returns=1)
                ref = ready[0]
                actor, shard = in_flight.pop(ref)
                try:
                    result = ray.get(ref)
                except (RayActorError, RayTaskError) as exc:
                    lost = isinstance(exc, RayActorError)
                    attempts[shard.index] += 1
                    last_failed_on[shard.index] = id(actor)
                    summary = _first_line(exc)
                    if lost:
                        n_lost += 1
                        losses_in_a_row += 1
                        ray.kill(actor, no_restart=True)
                        actor = self._spawn()
                        names[id(actor)] = actor.where.remote()
                    if losses_in_a_row >= self.config.max_attempts * max(len(idle) + len(in_flight) + 1, 1):
                        failures.append((shard, summary))
                        failures.extend((s, f"not run: workers keep dying ({summary})") for s in queue)
                        queue.clear()
                        logger.warning("executor: %d workers lost in a row, stopping: %s", losses_in_a_row, summary)
                    elif attempts[shard.index] >= self.config.max_attempts:
                        failures.append((shard, summary))
                        logger.warning("executor: shard %d (%s) failed %d times, giving up: %s", shard.index, ", ".join(shard.ids), attempts[shard.index], summary)
                    else:
                        n_retries += 1
                        queue.append(shard)
                        logger.warning("executor: shard %d %s; retrying (%d/%d)", shard.index, "lost its worker" if lost else "raised", attempts[shard.index] + 1, self.config.max_attempts)
                    idle.append(actor)
                    continue
                losses_in_a_row = 0
                on_result(shard, result)
                name = self._name(names, actor)
                counts[name] += len(shard)
                idle.append(actor)
        finally:
            for actor in idle + [a for a, _ in in_flight.values()]:
                ray.kill(actor, no_restart=True)
        elapsed = time.monotonic() - t0
        for name, n in sorted(counts.items()):
            logger.info("executor: worker %s finished %d problems", name, n)
        logger.info("executor: %d problems in %.1fs, %d retries, %d workers lost", sum(counts.values()), elapsed, n_retries, n_lost)
        if failures:
            raise ShardsFailed(failures)
        return ShardRun(len(shards), sum(len(s) for s in shards), dict(counts), n_retries, n_lost)

    def _name(self, names: dict[int, Any], actor: Any) -> str:
        value = names.get(id(actor))
        if value is not None and not isinstance(value, str):
            try:
                value = self.ray.get(value, timeout=30)
            except Exception:  # noqa: BLE001 - a name is only for the logs
                value = f"actor-{id(actor):x}"
            names[id(actor)] = value
        return value or f"actor-{id(actor):x}"


def _pick(queue: deque, last_failed_on: dict[int, int], actor_key: int) -> Shard:
    """The first queued shard that did not last fail on this actor (else the first)."""
    for i, shard in enumerate(queue):
        if last_failed_on.get(shard.index) != actor_key:
            del queue[i]
            return shard
    return queue.popleft()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    lines = [line for line in text if line.strip()]
    return (lines[-1] if lines else type(exc).__name__)[:300]


def configure_logging() -> None:
    """Send this module's INFO lines (pool size, per-worker counts, retries) to stderr, once."""
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
