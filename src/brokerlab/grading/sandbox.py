"""The sandbox: the one door through which the grader calls a learner's code.

Every check calls learner code through :func:`call` (or :func:`invoke`, its long form), never
directly. One call

- ends after the check's time budget (or a shorter per-call ``timeout``): a ``while True:
  pass`` ends as a failure of kind ``"timeout"`` instead of freezing the notebook. The budget
  is **CPU time** of the kernel's process, so a correct answer is not failed because the
  machine was busy with something else or the process stalled (a busy laptop, a loaded CI
  machine); a second, wall-clock limit (:func:`wall_limit`: three times the budget plus 2 s)
  ends code that sleeps or waits instead of computing. In the main thread these are two
  ``setitimer`` timers (``ITIMER_PROF`` and ``ITIMER_REAL``) that keep firing every 50 ms
  until the call is over, so a loop that swallows the first interruption with ``except
  BaseException`` gets another one as soon as it steps out of its ``try``; elsewhere a trace
  function stops it. While a budget is open, the objects that existed before it are frozen
  for the garbage collector (``gc.freeze``), so a full collection of a large kernel's memory
  does not land inside a learner's call;
- keeps what the code prints, up to :data:`PRINT_CAP` characters; a flood beyond that stops
  the call (kind ``"flood"``). Nothing printed reaches the notebook, so reports stay stable;
- turns an exception raised by the learner's code into a :class:`Fail` (kind ``"raised"``, or
  ``"stub"`` for the ``NotImplementedError`` of an untouched exercise) that names the call, the
  exception and the learner's line that raised it; ``SystemExit`` included;
- notices inputs the code changed in place (kind ``"mutated"``): plain data arguments (lists,
  dicts, sets, nested) are compared with a deep copy taken before the call.

:func:`expect_type` names a wrong return type (kind ``"type"``); :func:`restricted` wraps a
grader object so that the learner sees only the names the contract gives it (kind
``"reached"`` for anything else); :func:`fresh_process` copies a function as a newly started
process would have it (its module globals, closures and defaults as they were when the check
began), so that memory kept between calls does not survive a simulated crash.

:func:`budget` opens a check's time budget; :func:`brokerlab.grading.check` does this for every
check, so exercise modules only call :func:`call`.
"""

from __future__ import annotations

import copy
import gc
import math
import signal
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any

__all__ = [
    "PRINT_CAP",
    "Fail",
    "budget",
    "call",
    "describe_call",
    "expect_type",
    "fresh_process",
    "invoke",
    "restricted",
    "short_repr",
    "wall_limit",
]

#: The most a learner's code may print in one check (characters) before it is stopped.
PRINT_CAP = 20_000
#: How often the timer fires again once the time is up (seconds).
_REFIRE = 0.05
#: The wall-clock limit of a call or a check is ``WALL_FACTOR * budget + WALL_EXTRA`` seconds.
WALL_FACTOR = 3.0
WALL_EXTRA = 2.0
#: The signals of the two timers: CPU time of the process, and wall-clock time.
_SIGNALS = (signal.SIGPROF, signal.SIGALRM)


def wall_limit(seconds: float) -> float:
    """The wall-clock seconds allowed for a budget of ``seconds`` of CPU time.

    The budget counts CPU time, so that a busy machine does not fail a correct answer; code
    that sleeps or waits uses none, and this limit ends it instead.
    """
    return WALL_FACTOR * seconds + WALL_EXTRA


class Fail(Exception):
    """A check failed. Raise it from a check's ``run``.

    - ``message``: one or two sentences in plain words: what the answer did and what the
      contract asks;
    - ``counterexample``: the smallest failing input or run, as readable text (or any object:
      its ``explain()`` is used if it has one, else ``str``);
    - ``kind``: the kind of failure, which chooses the hint (``Check.hints[kind]``, else
      ``"default"``). The sandbox uses ``"timeout"``, ``"raised"``, ``"stub"``, ``"type"``,
      ``"flood"``, ``"mutated"``, ``"reached"``; checks add their own (``"duplicate"``...);
    - ``hint``: a hint for this very failure, overriding the check's (a worked example's).
    """

    def __init__(
        self,
        message: str,
        counterexample: Any = None,
        kind: str = "wrong",
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if counterexample is not None and not isinstance(counterexample, str):
            explain = getattr(counterexample, "explain", None)
            counterexample = explain() if callable(explain) else str(counterexample)
        self.counterexample = counterexample
        self.kind = kind
        self.hint = hint


class _TimeUp(BaseException):
    """Raised inside learner code when its time is up (a BaseException, like KeyboardInterrupt)."""


class _Flood(BaseException):
    """Raised inside learner code when it printed more than :data:`PRINT_CAP` characters."""


class _State(threading.local):
    deadline: float | None = None  # time.process_time() at which the check's budget ends
    wall_deadline: float | None = None  # time.monotonic() at which its wall-clock limit ends
    depth: int = 0  # nested learner calls (only the outermost arms the timer)
    armed: bool = False
    timed_out: bool = False
    waited: bool = False  # the wall-clock timer struck, not the CPU one
    printed: int = 0


_state = _State()


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Give the learner calls made inside this block ``seconds`` of CPU time in total (and
    :func:`wall_limit` of ``seconds`` in wall-clock time)."""
    outer = _state.deadline, _state.wall_deadline
    _state.deadline = time.process_time() + seconds
    _state.wall_deadline = time.monotonic() + wall_limit(seconds)
    _state.printed = 0
    main = _main()
    previous = [signal.signal(s, _on_alarm) for s in _SIGNALS] if main else []
    previous_trace = sys.gettrace()
    froze = gc.get_freeze_count() == 0  # nobody froze before us (not the caller, not we)
    if froze:
        gc.freeze()
    try:
        yield
    finally:
        _disarm()  # before the old handler is back: a stray alarm must not reach it
        if froze:
            gc.unfreeze()
        for s, handler in zip(_SIGNALS, previous):
            signal.signal(s, handler)
        if sys.gettrace() is not previous_trace:
            sys.settrace(previous_trace)
        _state.deadline, _state.wall_deadline = outer


def short_repr(value: Any, limit: int = 120) -> str:
    """``repr(value)``, cut to ``limit`` characters, with no memory addresses in it."""
    try:
        text = repr(value)
    except Exception as exc:  # a learner object whose __repr__ raises
        text = f"<{type(value).__name__} whose repr raised {type(exc).__name__}>"
    if " at 0x" in text:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe_call(fn: Any, args: tuple = (), kwargs: dict | None = None) -> str:
    """``name(arg, arg, k=v)`` for messages."""
    name = getattr(fn, "__name__", None) or type(fn).__name__
    parts = [short_repr(a, 60) for a in args]
    parts += [f"{k}={short_repr(v, 60)}" for k, v in (kwargs or {}).items()]
    return f"{name}({', '.join(parts)})"


class _CappedWriter:
    """A stand-in for ``sys.stdout``/``sys.stderr`` that counts and drops what is written."""

    encoding = "utf-8"

    def write(self, text: Any) -> int:
        n = len(text) if isinstance(text, str) else 0
        _state.printed += n
        if _state.printed > PRINT_CAP:
            raise _Flood()
        return n

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


def _plain(value: Any, depth: int = 0) -> bool:
    """True for plain data (what the learner might change in place and we can compare)."""
    if depth > 20:
        return False
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return True
    if isinstance(value, (list, tuple, set, frozenset)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return all(_plain(k, depth + 1) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:
        return False


def _learner_line(exc: BaseException) -> str:
    """The last line of the traceback that is not the grader's own (``file, line N: code``)."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = __file__.rsplit("/", 1)[0]
    theirs = [f for f in frames if not f.filename.startswith(mine)]
    if not theirs:
        return ""
    f = theirs[-1]
    notebook = f.filename.startswith("<") or "ipykernel_" in f.filename
    where = "your code" if notebook else f.filename.rsplit("/", 1)[-1]
    code = f" ({f.line.strip()})" if f.line else ""
    return f" at line {f.lineno} of {where}{code}"


def _kill(frame: Any, event: str, arg: Any) -> Any:
    """A trace function that raises again in learner code that is handling the timeout (see
    ``_on_alarm``); elsewhere it only keeps watching."""
    state = _state
    if state is None:  # the interpreter is shutting down
        return None
    if state.armed and state.timed_out and isinstance(sys.exc_info()[1], _TimeUp):
        raise _TimeUp()
    return _kill


def _on_alarm(signum: int, frame: Any) -> None:
    """Time is up: raise in the learner's code, and make its next line raise too.

    The exception alone can be swallowed by ``except BaseException``; the trace function set
    on the learner's frames raises again at the first line the ``except`` block runs while it
    handles the timeout, so the code cannot stay in its loop. The timer fires again every 50 ms, until
    the call is over, for code that nests such handlers.
    """
    if not _state.armed:
        return
    _state.timed_out = True
    _state.waited = signum == signal.SIGALRM
    sys.settrace(_kill)
    f = frame
    while f is not None and f.f_code is not invoke.__code__:  # the learner's frames only
        if not f.f_code.co_filename.startswith(_HERE):
            f.f_trace = _kill
        f = f.f_back
    raise _TimeUp()


_HERE = __file__.rsplit("/", 1)[0]


def _main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _arm(seconds: float, wall: float) -> None:
    """Interrupt the learner's call after ``seconds`` of CPU time or ``wall`` seconds of wall
    time, whichever comes first, and every 50 ms after that."""
    _state.timed_out = _state.waited = False
    if _main():
        _state.armed = True
        signal.setitimer(signal.ITIMER_PROF, max(seconds, 1e-4), _REFIRE)
        signal.setitimer(signal.ITIMER_REAL, max(wall, 1e-4), _REFIRE)
        return
    end = time.process_time() + seconds  # pragma: no cover - signals work in the main thread
    wall_end = time.monotonic() + wall  # pragma: no cover

    def tracer(frame: Any, event: str, arg: Any) -> Any:  # pragma: no cover
        waited = time.monotonic() > wall_end
        if waited or time.process_time() > end:
            _state.timed_out, _state.waited = True, waited
            raise _TimeUp()
        return tracer

    sys.settrace(tracer)  # pragma: no cover


def _disarm() -> None:
    """Stop the timer. An alarm already on its way may still raise once: try again then."""
    for _ in range(10):
        try:
            _state.armed = False
            if _main():
                signal.setitimer(signal.ITIMER_PROF, 0)
                signal.setitimer(signal.ITIMER_REAL, 0)
            return
        except _TimeUp:
            continue


def invoke(
    fn: Any,
    args: tuple = (),
    kwargs: dict[str, Any] | None = None,
    *,
    what: str | None = None,
    timeout: float | None = None,
    passthrough: tuple[type[BaseException], ...] = (),
    watch: tuple[Any, ...] | None = None,
) -> Any:
    """Call learner code ``fn(*args, **kwargs)`` safely and return its result.

    - ``what``: how to name the call in messages (default: ``describe_call(fn, args, kwargs)``);
    - ``timeout``: seconds of CPU time for this call (default, and at most: what is left of the
      check's budget, 10 s outside a check); the call may also wait :func:`wall_limit` of it;
    - ``passthrough``: exception types the *grader* raises through learner code on purpose
      (an injected crash); they propagate unchanged;
    - ``watch``: objects to compare before and after (default: the plain-data arguments).

    Raises :class:`Fail` for a timeout, an exception, a print flood or a changed input.
    """
    kwargs = kwargs or {}
    if what is None:
        what = describe_call(fn, args, kwargs)
    if not callable(fn):
        raise Fail(
            f"{what.split('(')[0]} is a {type(fn).__name__} ({short_repr(fn, 60)}), not something "
            "that can be called: define it with def (or class) as the contract says.",
            kind="type",
        )
    if watch is None:
        watch = tuple(a for a in (*args, *kwargs.values()) if _plain(a))
    try:
        before = copy.deepcopy(watch)
    except Exception:  # pragma: no cover - plain data always copies
        before, watch = (), ()
    if _state.depth > 0:  # called from inside learner code: the outer call's limits apply
        return fn(*args, **kwargs)
    if _state.deadline is None:
        left, wall_left = 10.0, wall_limit(10.0)
    else:
        left = _state.deadline - time.process_time()
        wall_left = _state.wall_deadline - time.monotonic()
    seconds = left if timeout is None else min(timeout, left)
    wall = wall_left if timeout is None else min(wall_limit(timeout), wall_left)
    stdout, stderr = sys.stdout, sys.stderr
    writer = _CappedWriter()
    main = _main()
    own_handler = main and signal.getsignal(signal.SIGALRM) is not _on_alarm
    previous = [signal.signal(s, _on_alarm) for s in _SIGNALS] if own_handler else []
    previous_trace = sys.gettrace()
    _state.depth += 1
    outcome: BaseException | None = None
    result = None
    try:
        try:
            sys.stdout = sys.stderr = writer  # type: ignore[assignment]
            _arm(seconds, wall)
            result = fn(*args, **kwargs)
        finally:
            _disarm()
    except BaseException as exc:  # noqa: BLE001 - sorted out just below
        outcome = exc
    finally:
        _disarm()
        sys.stdout, sys.stderr = stdout, stderr
        _state.depth -= 1
        if sys.gettrace() is not previous_trace:
            sys.settrace(previous_trace)
        for s, handler in zip(_SIGNALS, previous):
            signal.signal(s, handler)
    if _state.timed_out or isinstance(outcome, _TimeUp):
        if _state.waited:
            message = (
                f"{what} did not finish: it waited more than {wall:.1f} s without computing. "
                "Does it sleep, or wait for something that never comes?"
            )
        else:
            limit = f" ({timeout:g} s)" if timeout is not None and timeout <= left else ""
            message = f"{what} did not finish in the time allowed{limit}: does a loop never end?"
        raise Fail(message, counterexample=what, kind="timeout") from None
    if isinstance(outcome, _Flood) or _state.printed > PRINT_CAP:
        raise Fail(
            f"{what} printed more than {PRINT_CAP:,} characters, so it was stopped. Remove the "
            "print from the loop (printing is not part of the contract).",
            counterexample=what,
            kind="flood",
        ) from None
    if outcome is not None:
        if isinstance(outcome, passthrough):
            raise outcome
        if isinstance(outcome, KeyboardInterrupt):
            raise outcome
        kind = "stub" if isinstance(outcome, NotImplementedError) else "raised"
        text = str(outcome)
        text = f": {text[:200]}" if text else ""
        raise Fail(
            f"{what} raised {type(outcome).__name__}{text}{_learner_line(outcome)}.",
            counterexample=what,
            kind=kind,
        ) from None
    for old, new in zip(before, watch):
        if not _same(old, new):
            raise Fail(
                f"{what} changed its input in place: {short_repr(old, 80)} became "
                f"{short_repr(new, 80)}. The contract says inputs are read-only: copy it first.",
                counterexample=what,
                kind="mutated",
            )
    return result


def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``invoke(fn, args, kwargs)``: call learner code with the check's limits."""
    return invoke(fn, args, kwargs)


def expect_type(value: Any, expected: str, what: str) -> Any:
    """Return ``value`` if it is of the ``expected`` kind, else raise a ``Fail`` (kind ``"type"``).

    ``expected``: ``"float"`` (any real number but a bool, ``inf`` included), ``"int"`` (an
    integer, not a bool), ``"bool"``, ``"str"``, ``"list"``, ``"dict"``, ``"tuple"``, ``"None"``.
    """
    ok = {
        "float": isinstance(value, Real) and not isinstance(value, bool),
        "int": isinstance(value, Integral) and not isinstance(value, bool),
        "bool": isinstance(value, bool),
        "str": isinstance(value, str),
        "list": isinstance(value, list),
        "dict": isinstance(value, dict),
        "tuple": isinstance(value, tuple),
        "None": value is None,
    }[expected]
    if not ok:
        extra = ""
        if expected == "int" and isinstance(value, float) and math.isfinite(value):
            extra = " Convert it with int(...) (math.ceil returns an int already)."
        raise Fail(
            f"{what} returned {type(value).__name__} {short_repr(value, 60)}; the contract says "
            f"it returns {expected}.{extra}",
            counterexample=f"{what} -> {short_repr(value, 60)}",
            kind="type",
        )
    return value


# --- what the learner may see ------------------------------------------------------------------


class _Restricted:
    """A view of a grader object that shows only the names the contract gives the learner."""

    __slots__ = ("_impl", "_allowed", "_label", "_reached")

    def __getattribute__(self, name: str) -> Any:
        get = object.__getattribute__
        if name in get(self, "_allowed"):
            return getattr(get(self, "_impl"), name)
        if name.startswith("__") and name.endswith("__") and name not in ("__dict__", "__slots__"):
            return get(self, name)
        label = get(self, "_label")
        get(self, "_reached").append(name)
        raise AttributeError(
            f"{label} has no attribute {name!r}: the contract gives {label} only "
            f"{', '.join(sorted(get(self, '_allowed')))}."
        )

    def __setattr__(self, name: str, value: Any) -> None:
        get = object.__getattribute__
        label = get(self, "_label")
        get(self, "_reached").append(name)
        raise AttributeError(
            f"{label}.{name} cannot be set: the grader's objects are read-only to your code. "
            "Keep state where the contract says it survives."
        )

    __delattr__ = __setattr__  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{object.__getattribute__(self, '_label')}>"

    def __enter__(self) -> Any:
        return type(object.__getattribute__(self, "_impl")).__enter__(
            object.__getattribute__(self, "_impl")
        )

    def __exit__(self, *exc: Any) -> Any:
        return type(object.__getattribute__(self, "_impl")).__exit__(
            object.__getattribute__(self, "_impl"), *exc
        )


def restricted(impl: Any, allowed: tuple[str, ...], label: str, reached: list[str]) -> Any:
    """Wrap ``impl`` so that learner code sees only ``allowed`` names.

    Any other attribute read or any write raises ``AttributeError`` and is appended to
    ``reached``, so the check can fail with kind ``"reached"`` even if the learner's code
    caught the error. ``with`` works if ``impl`` is a context manager.
    """
    view = object.__new__(_Restricted)
    for slot, value in (
        ("_impl", impl),
        ("_allowed", frozenset(allowed)),
        ("_label", label),
        ("_reached", reached),
    ):
        object.__setattr__(view, slot, value)
    return view


def reached_into(label: str, names: list[str]) -> Fail:
    """The failure for learner code that reached into a grader object."""
    shown = ", ".join(dict.fromkeys(names))
    return Fail(
        f"The code used {label} attribute(s) the contract does not give it ({shown}). Use only "
        "what the contract lists: the grade comes from what the broker recorded, not from the "
        "grader's internals.",
        kind="reached",
    )


# --- a fresh process ------------------------------------------------------------------------------


def _copy_value(value: Any) -> Any:
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


def _names_used(code: types.CodeType) -> set[str]:
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_used(const)
    return names


class _Rebuilder:
    """Copies functions (and the classes and data they use from their module) as a new process
    would have them: fresh module globals, closures and defaults, taken from a snapshot."""

    def __init__(self, module: str | None) -> None:
        self.module = module
        self.memo: dict[int, Any] = {}
        self.namespaces: dict[int, dict[str, Any]] = {}

    def value(self, v: Any) -> Any:
        if id(v) in self.memo:
            return self.memo[id(v)]
        if isinstance(v, types.FunctionType):
            return self.function(v)
        if isinstance(v, type) and v.__module__ == self.module and v.__module__ != "builtins":
            return self.cls(v)
        if isinstance(v, (types.ModuleType, type, types.BuiltinFunctionType)):
            return v
        out = _copy_value(v)
        self.memo[id(v)] = out
        return out

    def namespace(self, g: dict[str, Any]) -> dict[str, Any]:
        new = self.namespaces.get(id(g))
        if new is None:
            new = dict(g)  # shallow: most names stay as they are; the used ones are copied
            self.namespaces[id(g)] = new
        return new

    def fill(self, g: dict[str, Any], new: dict[str, Any], names: set[str]) -> None:
        for name in names:
            if name in g and new.get(name) is g[name]:
                new[name] = self.value(g[name])

    def function(self, fn: types.FunctionType) -> types.FunctionType:
        if fn.__module__ != self.module and self.module is not None:
            return fn  # library code (brokerlab, math...) is not the learner's state
        g = self.namespace(fn.__globals__)
        new = types.FunctionType(fn.__code__, g, fn.__name__, None, fn.__closure__)
        self.memo[id(fn)] = new  # before the copies below: recursive functions find it
        self.fill(fn.__globals__, g, _names_used(fn.__code__))
        if fn.__closure__:
            cells = []
            for cell in fn.__closure__:
                try:
                    cells.append(types.CellType(self.value(cell.cell_contents)))
                except ValueError:  # an empty cell
                    cells.append(types.CellType())
            new = types.FunctionType(fn.__code__, g, fn.__name__, None, tuple(cells))
            self.memo[id(fn)] = new
        new.__defaults__ = self.value(fn.__defaults__)
        new.__kwdefaults__ = self.value(fn.__kwdefaults__)
        new.__dict__.update(self.value(dict(fn.__dict__)))
        new.__qualname__ = fn.__qualname__
        new.__module__ = fn.__module__
        return new

    def cls(self, c: type) -> type:
        body = {
            k: self.value(v) for k, v in vars(c).items() if k not in ("__dict__", "__weakref__")
        }
        try:
            new = type(c)(c.__name__, c.__bases__, body)
        except Exception:  # a metaclass that does not like this: keep the class
            new = c
        self.memo[id(c)] = new
        return new


def fresh_process(fn: Any) -> Callable[[], Any]:
    """A factory of copies of ``fn`` as each newly started process would have it.

    The state ``fn`` can reach in its own module (globals it uses, closures, defaults,
    function attributes, class attributes of classes defined there) is snapshot now; each call
    of the factory returns a new copy made from that snapshot, so what one "process" changes in
    memory is gone in the next. A callable object is deep-copied the same way.
    """
    if isinstance(fn, types.FunctionType):
        snapshot = _Rebuilder(fn.__module__).function(fn)
        return lambda: _Rebuilder(fn.__module__).function(snapshot)
    snapshot = _copy_value(fn)
    return lambda: _copy_value(snapshot)
