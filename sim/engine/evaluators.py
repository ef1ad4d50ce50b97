"""Evaluators: interchangeable ways to run many pure function calls (in-process, process pool, Dask).

Every evaluator is a context manager with one verb, :meth:`Evaluator.evaluate`, which runs ``function(item)``
for each item and yields ``(index, result)`` pairs as they complete (in any order). Callers place results by
index, so what they build is the same whatever the evaluator; the function must be a pure, picklable,
module-level function of its item (as :func:`sim.engine.sweep.run_chunk` is).

Dask is imported only when a :class:`DaskEvaluator` is entered, so ``import sim`` works without it.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
import signal
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any
from urllib.parse import urlsplit

from sim.core.config import ConfigError

SCHEDULER_TIMEOUT = 10.0  # seconds to reach a --scheduler and hear its handshake


def default_workers() -> int:
    """Cores this process may use (the affinity mask, not the machine's count, where the OS tells it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Evaluator:
    """Base class: ``with evaluator: for index, result in evaluator.evaluate(function, items): ...``.

    Re-entrant: nested ``with`` blocks share the workers started by the outermost one, so a caller can keep one
    pool or cluster alive across several sweeps (sensitivity runs two) while each sweep still says ``with``.
    """

    workers: int = 1
    name: str = "evaluator"
    batch_size: int | None = None  # runs stepped together in a worker (sim/core/batch.py); None: automatic
    _depth: int = 0

    def __enter__(self) -> Evaluator:
        if self._depth == 0:
            self._start()
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._stop()

    def _start(self) -> None:
        return None

    def _stop(self) -> None:
        return None

    def evaluate(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        raise NotImplementedError

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"


class SequentialEvaluator(Evaluator):
    """Everything in this process, in order: the reference the parallel evaluators must reproduce."""

    name = "sequential"

    def evaluate(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for index, item in enumerate(items):
            yield index, function(item)


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork on Linux (workers start at once, with the model imported); spawn elsewhere.

    Explicit because importing mesa (its batchrunner) switches the global default start method to spawn.
    """
    return multiprocessing.get_context("fork" if sys.platform == "linux" else "spawn")


def _die_with_parent(parent: int) -> None:
    """Pool initializer: on Linux, ask the kernel to kill this worker when the sweep process dies (SIGKILL
    included), so that an interrupted sweep leaves no orphaned workers computing results nobody will read."""
    if sys.platform != "linux":
        return
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # best effort: no libc or no prctl
        return
    if os.getppid() != parent:  # the parent died between the fork and the request: nobody would kill us later
        os._exit(1)


_HELD_BACK = (signal.SIGINT, signal.SIGTERM)


def _start_worker(parent: int) -> None:
    """Pool initializer: Ctrl+C reaches the whole process group, but only the parent acts on it (it stops the
    workers), so a worker never prints a traceback; and the worker dies with its parent (:func:`_die_with_parent`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the command line's handler: stopping a worker just ends it
    _die_with_parent(parent)


def _new_pool(workers: int) -> ProcessPoolExecutor:
    """A pool with every worker started now, with Ctrl+C and SIGTERM held back meanwhile (and acted on right after):
    a signal handled while a worker is forked would interrupt Python's fork callbacks (an "Exception ignored"
    trace, a half-started pool). The workers inherit the holding handler until their initializer runs."""
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=_pool_context(), initializer=_start_worker, initargs=(os.getpid(),)
    )
    if threading.current_thread() is not threading.main_thread():
        return pool
    held: list[int] = []
    previous = {signum: signal.signal(signum, lambda signum, _: held.append(signum)) for signum in _HELD_BACK}
    try:
        try:
            pool.submit(int)  # the first item starts all the workers (fork) or the first one (spawn)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if held and callable(previous[held[0]]):
            previous[held[0]](held[0], None)  # e.g. raise KeyboardInterrupt, now that the pool can be stopped
    except BaseException:
        _stop_workers(pool)
        raise
    return pool


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop a pool now (after Ctrl+C or an error): queued items are dropped and running workers are terminated
    rather than awaited, with further Ctrl+C ignored meanwhile so that a second press cannot leave it half-done."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        processes = list((getattr(pool, "_processes", None) or {}).values())
        manager = getattr(pool, "_executor_manager_thread", None)  # (shutdown forgets it)
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        if manager is not None:  # let it wind down now, not while the interpreter exits (an "ignored" trace)
            manager.join(timeout=5)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


class ProcessPoolEvaluator(Evaluator):
    """A local process pool (default: one worker per core).

    At most ``workers + 1`` items are handed to the pool at a time (the rest wait here), so an interrupted run
    loses at most those in flight, and results stream back while the remaining items are still queued.
    """

    name = "process pool"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._pool: ProcessPoolExecutor | None = None

    def _start(self) -> None:
        self._pool = _new_pool(self.workers)

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None and self._depth == 1 and self._pool is not None:
            _stop_workers(self._pool)  # interrupted or failed: do not wait for the running items
            self._pool = None
        super().__exit__(*exc)

    def _stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def evaluate(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        if self._pool is None:
            raise RuntimeError("enter the evaluator first: `with ProcessPoolEvaluator() as evaluator:`")
        pending = iter(enumerate(items))
        running: dict[Future, int] = {}

        def top_up() -> None:
            while len(running) < self.workers + 1:
                nxt = next(pending, None)
                if nxt is None:
                    return
                running[self._pool.submit(function, nxt[1])] = nxt[0]  # type: ignore[union-attr]

        top_up()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                yield index, future.result()
            top_up()


class DaskEvaluator(Evaluator):
    """A Dask distributed cluster: an existing scheduler (``address``) or a local cluster started here.

    A local cluster runs ``workers`` single-threaded worker processes on the loopback interface only. Workers of
    an existing cluster must have relsim installed (the function is sent by reference, as
    ``sim.engine.sweep.run_chunk``).
    """

    name = "dask"

    def __init__(
        self, address: str | None = None, workers: int | None = None, timeout: float = SCHEDULER_TIMEOUT
    ) -> None:
        self.address = address
        self.workers = workers or default_workers()
        self.timeout = timeout
        self._client: Any = None
        self._cluster: Any = None

    def _start(self) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            option = "--scheduler" if self.address else "--dask"
            raise ConfigError(option, "needs Dask: pip install 'dask[distributed]'") from None
        if self.address is None:
            self._cluster = LocalCluster(
                n_workers=self.workers,
                threads_per_worker=1,  # the model holds the GIL: one thread per process
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
            self._client = Client(self._cluster)
        else:
            probe_scheduler(self.address, self.timeout)
            try:
                self._client = Client(self.address, timeout=self.timeout)
            except (OSError, TimeoutError, ValueError) as error:
                raise ConfigError("--scheduler", f"cannot connect to {self.address}: {error}") from None
            self.workers = max(1, sum(self._client.nthreads().values()))

    def _stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def describe(self) -> str:
        where = self.address or "local cluster on 127.0.0.1"
        return f"dask ({where}, {self.workers} worker thread{'s' if self.workers != 1 else ''})"

    def evaluate(self, function: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import as_completed

        if self._client is None:
            raise RuntimeError("enter the evaluator first: `with DaskEvaluator(...) as evaluator:`")
        # pure=False: never let Dask reuse a cached result under a content key; every item runs once.
        futures = self._client.map(function, list(items), pure=False)
        index = {future.key: i for i, future in enumerate(futures)}
        try:
            for future, result in as_completed(futures, with_results=True):
                yield index[future.key], result
        finally:
            self._client.cancel(futures)


def probe_scheduler(address: str, timeout: float = SCHEDULER_TIMEOUT) -> None:
    """Fail fast, in one line, unless a plain ``tcp://`` address answers with Dask's handshake: a Dask scheduler
    sends one framed message at once; anything else (a web server, ssh, nothing) is refused within ``timeout``
    instead of letting the client wait for minutes or read a stranger's bytes as a message length."""
    scheme, _, rest = address.rpartition("://")
    if scheme not in ("", "tcp"):
        return  # tls://, ws://, ...: the client's own timeout applies
    expected = f"expected an address such as tcp://host:8786; got {address!r}"
    try:
        parts = urlsplit(f"tcp://{rest}")
        host, port = parts.hostname, parts.port or 8786
    except ValueError as error:
        raise ConfigError("--scheduler", f"{expected} ({error})") from None
    if not host:
        raise ConfigError("--scheduler", expected)
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            connection.settimeout(timeout)
            header = _receive(connection, 8)
            (length,) = struct.unpack("<Q", header) if len(header) == 8 else (0,)
            if 16 <= length <= 1 << 20:
                message = _receive(connection, length)
                if b"compression" in message or b"pickle-protocol" in message:
                    return
    except socket.gaierror as error:
        raise ConfigError("--scheduler", f"cannot resolve {host!r}: {error.strerror}") from None
    except TimeoutError:
        raise ConfigError(
            "--scheduler", f"{address} sent no Dask handshake within {timeout:g} s: is it a Dask scheduler?"
        ) from None
    except OSError as error:
        raise ConfigError("--scheduler", f"cannot connect to {address}: {error.strerror or error}") from None
    raise ConfigError("--scheduler", f"{address} does not speak Dask's protocol: is it a Dask scheduler?")


def _receive(connection: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = connection.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check_workers(workers: int | None, oversubscribe: bool = False) -> None:
    """Refuse fewer than one worker, or more than the cores this process may use unless asked for explicitly."""
    if workers is None:
        return
    if workers < 1:
        raise ConfigError("--workers", f"must be an integer of at least 1; got {workers}")
    cores = default_workers()
    if workers > cores and not oversubscribe:
        raise ConfigError(
            "--workers",
            f"must be at most {cores}, the cores this process may use; got {workers} (add --oversubscribe to start "
            "more processes than cores)",
        )


def make_evaluator(
    workers: int | None = None,
    scheduler: str | None = None,
    dask: bool = False,
    oversubscribe: bool = False,
    batch_size: int | None = None,
) -> Evaluator:
    """The evaluator the command-line options ask for (validated; nothing is started until it is entered).
    ``batch_size``: runs a worker steps together (1: each alone; None: chosen from run sizes and memory)."""
    check_workers(workers, oversubscribe)
    if batch_size is not None and not 1 <= batch_size <= 100_000:
        raise ConfigError("--batch-size", f"must be a whole number from 1 to 100000; got {batch_size}")
    evaluator = _evaluator(workers, scheduler, dask)
    evaluator.batch_size = batch_size
    return evaluator


def _evaluator(workers: int | None, scheduler: str | None, dask: bool) -> Evaluator:
    if scheduler is not None:
        if dask:
            raise ConfigError("--scheduler", "use either --scheduler ADDRESS or --dask, not both")
        if workers is not None:
            raise ConfigError("--workers", "not used with --scheduler: the cluster's workers run the sweep")
        if not scheduler.strip() or " " in scheduler:
            raise ConfigError("--scheduler", f"expected an address such as tcp://host:8786; got {scheduler!r}")
        return DaskEvaluator(address=scheduler)
    if dask:
        return DaskEvaluator(workers=workers)
    workers = workers or default_workers()
    return SequentialEvaluator() if workers == 1 else ProcessPoolEvaluator(workers)
