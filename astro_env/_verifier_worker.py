"""Symbolic comparison of two LaTeX answers, run inside a disposable worker process.

This file is executed by file path in a fresh interpreter (`python -P -c ...`), never imported by
the parent, so it imports nothing from the package. Protocol: one JSON object per line on stdin,
`{"pairs": [[gold, pred], ...]}`; one JSON line back, `{"verdicts": [bool, ...]}`. The first
line written is `{"ready": true}` once the imports and a warm-up parse are done.

LaTeX is converted with latex2sympy2_extended's ANTLR grammar, which builds sympy objects
directly: no `sympify`/`parse_expr`/`eval` of the answer text happens here. The process caps its
own address space (RLIMIT_AS) and ends itself when a request has used its CPU-time budget (the
parent kills it only at a generous wall-clock last guard), so a hang or a memory blow-up costs one
worker, never the caller, and the verdict does not depend on how busy the machine is.
"""

from __future__ import annotations

import json
import math
import sys

_POINTS = ((0.5377, 1.8339, -2.2588), (1.3188, 0.3426, 3.5784), (-1.3077, 2.7694, 0.7254))
"""Fixed evaluation points for the numeric identity test (deterministic, not integers)."""
_REL_TOL = 1e-9
_WARM_UP = (
    ("\\frac{1}{2}", "0.5"),
    ("5x - 7y + 11z + 4 = 0", "10x - 14y + 22z + 8 = 0"),
    ("\\sum_{k=0}^{n-1} F_k F_{n-k-1}", "S_n = \\sum_{j=1}^{m} a_j b_{m-j}"),
    ("\\int_0^1 x^2 \\, dx", "\\lim_{x \\to 0} \\frac{\\sin x}{x}"),
    ("\\cot x + \\tan y - \\sec z", "\\frac{\\cos x}{\\sin x} \\cdot \\csc \\theta"),
    ("\\log_2 8 + \\ln e", "\\sqrt[3]{27} + \\sqrt{2} \\pi"),
    ("\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}", "\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}"),
    ("(1, 2)", "[0, \\infty)"),
    ("\\{1, 2\\}", "(-\\infty, 2) \\cup (3, \\infty)"),
    ("x \\ge 3", "e^{i \\pi} + x^{2}"),
    ("\\binom{5}{2} + 3!", "|x - 1| + 2^{10}"),
)
"""Run once at start-up, in the zygote: the grammar, the parser's prediction tables for the common constructs and
the evaluation path most checks take are loaded before any budget is counted (a first parse of a construct costs
up to 0.3 s of CPU, a repeated one a tenth of that)."""


def _safe_number(text: str):
    """Build a sympy number from a numeral without `sympy.Number(str)` (which calls sympify, i.e. eval)."""
    import re

    import sympy

    digits = text.replace(",", "").replace(" ", "")
    if re.fullmatch(r"\d+", digits):
        return sympy.Integer(int(digits))
    if re.fullmatch(r"\d*\.\d*", digits) and digits != ".":
        return sympy.Float(digits)
    raise ValueError(f"not a numeral: {text[:20]!r}")


def _install_safe_numbers() -> None:
    """latex2sympy2_extended turns NUMBER tokens into sympy objects with `sympy.Number(text)`, which
    routes through `sympify`/`parse_expr`/`eval`. The tokens are digit strings, but we never eval
    text at all: replace both entry points with `_safe_number`."""
    from latex2sympy2_extended import latex2sympy2 as module

    def convert_number(number: str):
        if "," in number and number.startswith("0"):
            number = number.replace(",", ".")
        return _safe_number(number)

    module.convert_number = convert_number
    module._Latex2Sympy.parse_number = lambda self, text: _safe_number(text)
    _INSTALLED.append(True)


_INSTALLED: list[bool] = []


def _parse(latex: str):
    if not _INSTALLED:
        _install_safe_numbers()
    from latex2sympy2_extended import latex2sympy
    from latex2sympy2_extended.latex2sympy2 import ConversionConfig
    from latex2sympy2_extended.math_normalization import NormalizationConfig

    norm = NormalizationConfig(basic_latex=True, units=False, malformed_operators=False, nits=False, boxed="none", equations=False)
    conv = ConversionConfig(interpret_as_mixed_fractions=True, interpret_simple_eq_as_assignment=False,
                            interpret_contains_as_eq=True, lowercase_symbols=False)
    expr = latex2sympy(latex, normalization_config=norm, conversion_config=conv)
    import sympy

    i_symbols = [s for s in getattr(expr, "free_symbols", ()) if getattr(s, "name", "") == "i"]
    if i_symbols:  # MATH convention: i is the imaginary unit
        expr = expr.subs(i_symbols[0], sympy.I)
    return expr


def _numeric_close(a, b) -> bool | None:
    """True/False when both evaluate to numbers; None when they cannot be evaluated. Rationals compare exactly;
    otherwise the difference, evaluated to 30 significant digits, must be within a relative 1e-9 of the values (no
    absolute floor: 2^-99 is not 2^-98)."""
    import sympy

    if getattr(a, "is_Rational", False) and getattr(b, "is_Rational", False):
        return a == b
    try:
        va, vb = complex(sympy.N(a, 30)), complex(sympy.N(b, 30))
        if not all(math.isfinite(x) for x in (va.real, va.imag, vb.real, vb.imag)):
            return None  # NaN, infinity, or a float overflow of a huge value: not a numeric verdict
        difference = abs(complex(sympy.N(a - b, 30)))
    except (TypeError, ValueError, AttributeError):
        return None
    return difference <= _REL_TOL * max(abs(va), abs(vb))


def _expr_equal(a, b) -> bool:
    import sympy

    if a.has(sympy.zoo, sympy.nan) or b.has(sympy.zoo, sympy.nan):
        return False  # a division by zero ("12:00") is no value, however it is spelled
    if a == b:
        return True
    if not (isinstance(a, sympy.Expr) and isinstance(b, sympy.Expr)):
        return False
    if a.has(*_unevaluated()) or b.has(*_unevaluated()):
        # Evaluating a symbolic sum at a point runs Euler-Maclaurin (seconds); doing the operations is cheap.
        difference = (a - b).doit()
        return difference == 0 or sympy.simplify(difference) == 0
    if a.has(sympy.oo, -sympy.oo, sympy.zoo) or b.has(sympy.oo, -sympy.oo, sympy.zoo):
        return sympy.simplify(a - b) == 0 if a.free_symbols or b.free_symbols else False
    symbols = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    if not symbols:
        close = _numeric_close(a, b)
        if close is not None:
            return close
        return sympy.simplify(a - b) == 0
    if len(symbols) <= len(_POINTS[0]):
        verdicts = []
        for point in _POINTS:
            subs = dict(zip(symbols, point))
            verdicts.append(_numeric_close(a.subs(subs), b.subs(subs)))
        if all(v is True for v in verdicts):
            return True
        if any(v is False for v in verdicts):
            return False
    return sympy.simplify(a - b) == 0


def _proportional(da, db) -> bool | None:
    """Whether da = c * db for one nonzero constant c, by evaluation at the fixed points (cheap and
    load-independent, unlike `simplify`): True/False when every point evaluates, else None."""
    import sympy

    if not (isinstance(da, sympy.Expr) and isinstance(db, sympy.Expr)) or da.has(*_unevaluated()) or db.has(*_unevaluated()):
        return None
    symbols = sorted(da.free_symbols | db.free_symbols, key=lambda s: s.name)
    if not symbols or len(symbols) > len(_POINTS[0]) or da.free_symbols != db.free_symbols:
        return None
    ratios = []
    for point in _POINTS:
        subs = dict(zip(symbols, point))
        try:
            va, vb = complex(sympy.N(da.subs(subs), 30)), complex(sympy.N(db.subs(subs), 30))
        except (TypeError, ValueError, AttributeError):
            return None
        if not all(math.isfinite(x) for x in (va.real, va.imag, vb.real, vb.imag)) or vb == 0 or va == 0:
            return None
        ratios.append(va / vb)
    first = ratios[0]
    return all(abs(r - first) <= _REL_TOL * max(1.0, abs(first)) for r in ratios)


def _equal(a, b) -> bool:
    import sympy

    if isinstance(a, sympy.Equality) and isinstance(b, sympy.Equality):
        da, db = a.lhs - a.rhs, b.lhs - b.rhs
        proportional = _proportional(da, db)
        if proportional is not None:
            return proportional
        if _expr_equal(da, db) or _expr_equal(da, -db):
            return True
        ratio = sympy.simplify(da / db)
        return ratio.is_number and ratio != 0 and ratio.is_finite is True
    if isinstance(a, sympy.Equality) or isinstance(b, sympy.Equality):
        return False
    a, b = _explicit(a), _explicit(b)
    if isinstance(a, sympy.MatrixBase) and isinstance(b, sympy.MatrixBase):
        return a.shape == b.shape and all(_expr_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, sympy.Set) or isinstance(b, sympy.Set):
        return a == b or (isinstance(a, sympy.Set) and isinstance(b, sympy.Set) and a.symmetric_difference(b) == sympy.EmptySet)
    return _expr_equal(a, b)


def _unevaluated():
    """The sympy classes of operations left unevaluated by parsing: sums, products, integrals, derivatives, limits."""
    import sympy

    return (sympy.Sum, sympy.Product, sympy.Integral, sympy.Derivative, sympy.Limit)


def _explicit(x):
    """A sum or product of matrices as the matrix it is (`A + B`, `\\frac{t}{6} A`); anything else unchanged."""
    import sympy

    if isinstance(x, sympy.MatrixExpr) and not isinstance(x, sympy.MatrixBase):
        return x.doit()
    return x


def compare(gold: str, pred: str) -> bool:
    """Return whether two normalised scalar LaTeX answers are mathematically equal. Never raises."""
    try:
        return bool(_equal(_parse(gold), _parse(pred)))
    except Exception:  # noqa: BLE001 - unparsable/incomparable (incl. RecursionError, MemoryError): not equal
        return False


def _cap_memory(limit_mb: int) -> None:
    try:
        import resource

        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * resource.getpagesize()
        limit = max(limit_mb * 2**20, current + 256 * 2**20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, OSError, ValueError):
        pass


def _start_cpu_budget(cpu_s: float) -> None:
    """Arm a timer on this process's own CPU time (user + system, ITIMER_PROF): when the request has
    used `cpu_s` seconds of CPU the default SIGPROF action ends the process, and the parent reads
    that as "not equivalent". CPU time, unlike wall time, does not grow when other processes load
    the machine, so the same request gets the same verdict under any load."""
    import signal

    if cpu_s > 0 and hasattr(signal, "setitimer"):
        signal.signal(signal.SIGPROF, signal.SIG_DFL)
        signal.setitimer(signal.ITIMER_PROF, cpu_s)


def _stop_cpu_budget() -> None:
    import signal

    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_PROF, 0)


def _serve(infile, outfile) -> None:
    """Answer comparison requests, one JSON line each, until `infile` closes."""
    for line in infile:
        try:
            request = json.loads(line)
            pairs = request["pairs"]
            _start_cpu_budget(float(request.get("cpu_s", 0.0)))
            try:
                verdicts = [compare(str(g), str(p)) for g, p in pairs]
            finally:
                _stop_cpu_budget()
        except (ValueError, KeyError, TypeError, MemoryError):
            verdicts = []
        outfile.write(json.dumps({"verdicts": verdicts}) + "\n")
        outfile.flush()


def _warm_up() -> None:
    sys.setrecursionlimit(5000)
    for gold, pred in _WARM_UP:  # loads the ANTLR grammar and sympy's lazy parts before timing starts
        compare(gold, pred)


def _watch_parent(parent: int, stop=None):
    """Start a daemon thread that exits this process as soon as `parent` is no longer its parent (polled every
    0.1 s), until `stop` (a threading.Event) is set; return the thread."""
    import os
    import threading
    import time

    def watch() -> None:
        while not (stop is not None and stop.is_set()):
            if os.getppid() != parent:
                os._exit(0)
            time.sleep(0.1)

    thread = threading.Thread(target=watch, name="watch-parent", daemon=True)
    thread.start()
    return thread


def _processes():
    """`astro_env.processes`, loaded by path (this file imports nothing from the package)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("_astro_processes", Path(__file__).with_name("processes.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(limit_mb: int = 2048) -> None:
    """Serve comparison requests on stdin/stdout until stdin closes (a worker spawned directly, where fd passing
    is unavailable; it polls its parent and exits when the parent dies). A request may carry `cpu_s`, the
    CPU-time budget of the whole request (see `_start_cpu_budget`)."""
    import os

    _watch_parent(os.getppid())
    _warm_up()
    _cap_memory(limit_mb)
    sys.stdout.write('{"ready": true}\n')
    sys.stdout.flush()
    _serve(sys.stdin, sys.stdout)


def zygote(control_fd: int, limit_mb: int = 2048) -> None:
    """Warm up once, then fork a ready worker for every b"F" read on the control socket: the child
    serves requests on a fresh socket pair whose other end is sent back with its pid (SCM_RIGHTS).
    The zygote itself never reads an answer, so replacing a killed worker costs a fork, not a start-up.

    Lifetime: each child arms `PR_SET_PDEATHSIG` against the zygote (which forks from its only thread), and
    the zygote exits when the control socket closes or its parent dies (polled every 0.1 s while idle; a
    watchdog thread polls during the warm-up and is stopped before the first fork), so no worker outlives the
    process that started the pool. Ended children are reaped here, which adds their CPU time to the zygote's
    (see `WorkerPool.cpu_seconds`)."""
    import os
    import select
    import signal
    import socket
    import threading

    parent = os.getppid()
    stop = threading.Event()
    watchdog = _watch_parent(parent, stop)
    _warm_up()
    processes = _processes()
    stop.set()
    watchdog.join()
    me = os.getpid()
    control = socket.socket(fileno=control_fd)
    control.sendall(b"R")
    while os.getppid() == parent:
        _reap_children()
        readable, _, _ = select.select([control], [], [], 0.1)
        if not readable:
            continue
        if control.recv(1) != b"F":
            break
        ours, theirs = socket.socketpair()
        pid = os.fork()
        if pid == 0:
            armed = processes.arm_parent_death_signal()
            if os.getppid() != me:
                os._exit(0)  # the zygote died before the signal was armed
            if not armed:
                _watch_parent(me)
            control.close()
            ours.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _cap_memory(limit_mb)
            infile, outfile = theirs.makefile("r", encoding="utf-8"), theirs.makefile("w", encoding="utf-8")
            outfile.write('{"ready": true}\n')
            outfile.flush()
            try:
                _serve(infile, outfile)
            finally:
                os._exit(0)
        theirs.close()
        socket.send_fds(control, [str(pid).encode()], [ours.fileno()])
        ours.close()
    os._exit(0)  # the workers receive SIGKILL (PR_SET_PDEATHSIG)


def _reap_children() -> None:
    """Collect every ended child (no zombies; their CPU time joins the zygote's "children" counters)."""
    import os

    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
