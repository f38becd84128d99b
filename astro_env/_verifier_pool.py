"""A persistent pool of symbolic-comparison worker processes with a per-call CPU-time budget.

Why plain subprocesses rather than `multiprocessing`: "spawn" re-imports the caller's `__main__`
(scripts without a main guard recurse), "fork" is unsafe in a process that already runs threads
(torch, tokenizers), and the forkserver is a process-wide singleton other code may configure.
The pool starts one "zygote", `python -P -c <load _verifier_worker.py by path>`, which imports sympy and the
LaTeX grammar once and then only forks ready workers on request; each worker speaks JSON lines over a socket
whose end the zygote passes back (SCM_RIGHTS). Replacing a worker costs a fork, not a start-up.

Lifetime: a worker never outlives the process that uses it. Each forked worker arms `PR_SET_PDEATHSIG`
(`astro_env.processes`) against the zygote, whose only thread forks it, and the zygote exits within 0.1 s of
its parent's death (it polls its parent while idle, and a watchdog thread does during its warm-up). The
zygote does not arm the signal itself: the kernel sends it when the *thread* that started a process exits, and
the pool may be started from a short-lived thread. Where fd passing is unavailable, workers are spawned
directly and poll their parent instead.

Bounds: a request carries its CPU-time budget; the worker arms a timer on its own CPU time and
ends itself when the budget is spent, so the verdict does not depend on machine load. The
parent waits on the worker's output with `select` (any thread may call; no signals); past a wall-clock
last guard (the budget plus a slack) it kills a worker whose CPU time has stopped growing (stuck) and
keeps waiting for one that load has starved of CPU (read from /proc). A worker that ended or was
killed is replaced at once. Waiting for a free/ready worker is bounded separately by `start_timeout_s`.
`WorkerPool.cpu_seconds()` sums the CPU time of the zygote and every worker, ended ones included (the zygote
reaps them, so the kernel adds their time to its own), for benchmarks of the worst case per call.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

_WORKER_FILE = Path(__file__).with_name("_verifier_worker.py")
_BOOT = (
    "import importlib.util as u, sys\n"
    "s = u.spec_from_file_location('_astro_verifier_worker', sys.argv[1])\n"
    "m = u.module_from_spec(s); s.loader.exec_module(m)\n"
    "m.main(int(sys.argv[2])) if len(sys.argv) == 3 else m.zygote(int(sys.argv[3]), int(sys.argv[2]))\n"
)


def _spawn(memory_mb: int, *extra: str, pass_fds: tuple[int, ...] = (), pipes: bool = True) -> subprocess.Popen:
    flags = ["-P"] if sys.version_info >= (3, 11) else []
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    return subprocess.Popen(
        [sys.executable, *flags, "-c", _BOOT, str(_WORKER_FILE), str(memory_mb), *extra],
        stdin=subprocess.PIPE if pipes else subprocess.DEVNULL,
        stdout=subprocess.PIPE if pipes else subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        close_fds=True,
        pass_fds=pass_fds,
    )


STUCK_S = 2.0
"""A worker past the wall-clock guard is killed once its CPU time has not grown for this long (it is stuck,
not computing); a worker that load starves of CPU still gains some, so it is waited for and keeps its verdict."""
HARD_WALL_S = 120.0
"""No request is waited for longer than this (or ten times its CPU budget, if larger)."""


def _cpu_seconds(pid: int, reaped_children: bool = False) -> float | None:
    """Return the CPU time (user + system) process `pid` has used, from /proc, plus that of the children it has
    reaped when `reaped_children`; None where unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped_children else 0)
        return ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _Worker:
    """One worker process (spawned, or forked by the zygote) and its partial-line read buffer."""

    def __init__(self, memory_mb: int, forked: tuple[int, socket.socket] | None = None) -> None:
        self.proc: subprocess.Popen | None = None
        self.sock: socket.socket | None = None
        if forked is None:
            self.proc = _spawn(memory_mb)
            self.pid = self.proc.pid
            self._in, self._out = self.proc.stdout.fileno(), self.proc.stdin
        else:
            self.pid, self.sock = forked
            self._in, self._out = self.sock.fileno(), None
        self.buffer = b""
        self.ready = False
        self.ended = False
        """True once the worker's output closed (it ended: CPU budget spent, memory cap, crash)."""

    def send(self, data: bytes) -> None:
        if self.sock is not None:
            self.sock.sendall(data)
        else:
            self._out.write(data)
            self._out.flush()

    def read_line(self, deadline: float) -> bytes | None:
        """Return the next line the worker writes, or None at the deadline / on worker death."""
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._in], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                self.ended = True
                return None
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line

    def kill(self) -> None:
        if self.proc is not None:
            try:
                self.proc.kill()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            return
        try:
            os.kill(self.pid, signal.SIGKILL)  # the zygote reaps it
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass


class _Zygote:
    """A warmed-up process that forks ready workers on request (see `_verifier_worker.zygote`)."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.control, theirs = socket.socketpair()
        self.proc = _spawn(memory_mb, str(theirs.fileno()), pass_fds=(theirs.fileno(),), pipes=False)
        theirs.close()
        self.ready = False
        self.lock = threading.Lock()

    def fork(self, timeout_s: float = 5.0, wait_ready_s: float = 0.0) -> _Worker | None:
        """Return a ready forked worker, or None when the zygote is not warm within `wait_ready_s` or does not answer."""
        with self.lock:
            try:
                if not self.ready:
                    readable, _, _ = select.select([self.control], [], [], wait_ready_s)
                    if not readable or self.control.recv(1) != b"R":
                        return None
                    self.ready = True
                self.control.sendall(b"F")
                self.control.settimeout(timeout_s)
                message, fds, _, _ = socket.recv_fds(self.control, 32, 1)
                if not fds:
                    return None
                worker = _Worker(self.memory_mb, forked=(int(message), socket.socket(fileno=fds[0])))
                return worker
            except (OSError, ValueError):
                return None

    def close(self) -> None:
        try:
            self.control.close()
            self.proc.kill()
            self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass


class WorkerPool:
    """`n_workers` persistent workers; `compare_pairs` runs one batch on a free worker with a deadline."""

    def __init__(self, n_workers: int = 1, memory_mb: int = 2048, start_timeout_s: float = 60.0) -> None:
        self.n_workers = n_workers
        self.memory_mb = memory_mb
        self.start_timeout_s = start_timeout_s
        self._idle: queue.Queue[_Worker] = queue.Queue()
        self._zygote: _Zygote | None = None
        """Forks warm workers, so an ended worker is replaced at once (its start-up is paid once, in the background)."""
        self._lock = threading.Lock()
        self._pids: set[int] = set()
        self._started = False
        self._closed = False
        self.n_killed = 0
        """Workers killed at a deadline or found dead (for tests and diagnostics)."""

    def start(self) -> None:
        """Start the zygote and fork the workers in the background (idempotent, returns at once)."""
        self._ensure_started()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            if hasattr(socket, "send_fds"):
                self._zygote = _Zygote(self.memory_mb)
                threading.Thread(target=self._fill, name="verifier-pool-start", daemon=True).start()
            else:
                for _ in range(self.n_workers):
                    self._idle.put(self._track(_Worker(self.memory_mb)))
            atexit.register(self.close)

    def _fill(self) -> None:
        """Fork the first `n_workers` workers once the zygote is warm (a spawned one where it never gets warm)."""
        for _ in range(self.n_workers):
            zygote = self._zygote
            worker = zygote.fork(wait_ready_s=self.start_timeout_s) if zygote is not None else None
            if self._closed:
                if worker is not None:
                    worker.kill()
                return
            self._idle.put(self._track(worker if worker is not None else _Worker(self.memory_mb)))

    def _track(self, worker: _Worker) -> _Worker:
        with self._lock:
            self._pids.add(worker.pid)
        return worker

    def _replacement(self) -> _Worker:
        """Return a worker forked by the warm zygote, else a freshly spawned one."""
        forked = self._zygote.fork() if self._zygote is not None else None
        return self._track(forked if forked is not None else _Worker(self.memory_mb))

    def pids(self) -> list[int]:
        """Return the process ids of the zygote and of every worker started so far (ended ones included)."""
        with self._lock:
            zygote = [self._zygote.proc.pid] if self._zygote is not None else []
            return zygote + sorted(self._pids)

    def cpu_seconds(self) -> float:
        """Return the CPU time the pool's processes have used so far: every worker (alive, or ended and reaped by the
        zygote) and the zygote itself, its warm-up included. Spawned workers that ended count in the caller's
        `resource.getrusage(RUSAGE_CHILDREN)` instead. Reads /proc; 0.0 where it is unavailable."""
        with self._lock:
            pids = list(self._pids)
            zygote = self._zygote
        total = 0.0
        for pid in pids:  # before the zygote: a worker reaped in between is counted twice, never missed
            cpu = _cpu_seconds(pid)
            if cpu is None:
                with self._lock:
                    self._pids.discard(pid)
            else:
                total += cpu
        if zygote is not None:
            total += _cpu_seconds(zygote.proc.pid, reaped_children=True) or 0.0
        return total

    def compare_pairs(
        self, pairs: list[tuple[str, str]], timeout_s: float, wall_timeout_s: float | None = None
    ) -> list[bool] | None:
        """Return one verdict per (gold, pred) pair, or None when the worker used `timeout_s` seconds of
        CPU time on the batch (it ends itself) or died. Last guard: a worker still busy `wall_timeout_s`
        (default `timeout_s + 1.5`) wall seconds after the request is killed only once its CPU time stops
        growing for `STUCK_S` (stuck, not computing), or at `HARD_WALL_S`; one that load starves of CPU is
        waited for. So a check that needs less CPU than the budget gets the same verdict however busy the
        machine is, and one that needs more than the budget is False under any load."""
        guard = timeout_s + 1.5 if wall_timeout_s is None else wall_timeout_s
        self._ensure_started()
        try:
            worker = self._idle.get(timeout=self.start_timeout_s)
        except queue.Empty:
            return None
        healthy = False
        try:
            if not worker.ready:
                line = worker.read_line(time.monotonic() + self.start_timeout_s)
                if line is None:
                    return None
                worker.ready = True
            request = (json.dumps({"pairs": pairs, "cpu_s": timeout_s}) + "\n").encode()
            start = time.monotonic()
            deadline, hard_deadline = start + guard, start + max(HARD_WALL_S, 10.0 * timeout_s)
            worker.send(request)
            last_cpu, progressed = None, start
            while True:
                line = worker.read_line(deadline)
                if line is not None:
                    break
                if worker.ended:
                    return None  # the worker spent its CPU budget (or hit its memory cap) and ended
                cpu_now, now = _cpu_seconds(worker.pid), time.monotonic()
                if cpu_now is None:
                    return None  # gone
                if last_cpu is None or cpu_now > last_cpu:
                    last_cpu, progressed = cpu_now, now  # late but computing (starved by load): wait on
                elif now - progressed >= STUCK_S:
                    return None  # late and not computing: stuck, the last guard
                if now >= hard_deadline:
                    return None  # starved for minutes: give up
                deadline = now + 0.25
            verdicts = json.loads(line).get("verdicts")
            if not isinstance(verdicts, list) or len(verdicts) != len(pairs):
                return None
            healthy = True
            return [v is True for v in verdicts]
        except (OSError, ValueError):
            return None
        finally:
            if healthy:
                self._idle.put(worker)
            else:
                self.n_killed += 1
                worker.kill()
                if not self._closed:
                    self._idle.put(self._replacement())

    def close(self) -> None:
        """Kill every idle worker (workers also exit on their own when the parent's pipes close)."""
        self._closed = True
        with self._lock:
            zygote, self._zygote = self._zygote, None
        if zygote is not None:
            zygote.close()
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                return
