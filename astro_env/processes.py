"""Child processes that never outlive their parent.

`die_with_parent()` is the initializer of every worker process the project starts with a pool (the
parallel arms of `astro run`): on Linux the kernel sends SIGKILL to the worker when the process that
started it dies (`PR_SET_PDEATHSIG`, armed by `arm_parent_death_signal`), so killing a run with
SIGKILL leaves no orphan writing into its folder. Elsewhere a daemon thread polls the parent.

The kernel sends that signal when the *thread* that created the child exits, not only the process. A
pool started from a short-lived thread must therefore not rely on it alone: the verifier's worker pool
(`astro_env._verifier_pool`) has its zygote poll its parent and arms the signal only in the workers the
zygote forks from its single thread. This module imports only the standard library, so that pool's worker
file loads it by path.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def arm_parent_death_signal() -> bool:
    """Ask the kernel to SIGKILL this process when the thread that created it exits (Linux `PR_SET_PDEATHSIG`).
    Returns whether it is armed; False elsewhere. Callers then check `os.getppid()`: a parent that died before
    the call sends nothing."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(poll_s: float = 1.0) -> None:
    """Arrange for this process to be killed when its parent dies (call first thing in a child)."""
    parent = os.getppid()
    armed = arm_parent_death_signal()
    if os.getppid() != parent or os.getppid() == 1:  # the parent died before the signal was armed
        os._exit(1)
    if not armed:
        def watch() -> None:
            while True:
                time.sleep(poll_s)
                if os.getppid() != parent:
                    os._exit(1)

        threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


class PrefixedStream:
    """A text stream that writes `prefix` at the start of every line (after `\\n` or `\\r`) to `stream`.

    Worker processes that print progress side by side (the Direct and ASTRO arms) wrap their
    stdout and stderr in one, so every line says whose it is.

    >>> import io
    >>> out = io.StringIO(); s = PrefixedStream(out, "[astro] "); _ = s.write("a\\nb"); _ = s.write("c\\n"); out.getvalue()
    '[astro] a\\n[astro] bc\\n'
    """

    def __init__(self, stream, prefix: str) -> None:
        self.stream, self.prefix, self.at_start = stream, prefix, True

    def write(self, text: str) -> int:
        out = []
        for ch in text:
            if self.at_start and ch not in "\n\r":
                out.append(self.prefix)
                self.at_start = False
            out.append(ch)
            if ch in "\n\r":
                self.at_start = True
        self.stream.write("".join(out))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.stream.fileno()

    def __getattr__(self, name):
        return getattr(self.stream, name)
