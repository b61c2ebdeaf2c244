"""Spreading a build's independent pieces of work over every core.

Workers are forked, so they start with everything the build has computed so far (partners,
awards, compiled templates) without copying it through pickle, and send back only bytes and
small values. Each piece of work is a pure function of that inherited state, and results come
back in the order the work was given, so a parallel build writes the same bytes as a serial one.
Where fork is unavailable, or for small jobs, the work runs in this process instead.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

# Below this many partners a pool costs more than it saves.
MIN_PARTNERS = 400

_job: Callable[[Any], Any] | None = None


def workers(requested: int | None = None) -> int:
    if requested is not None:
        return max(1, requested)
    env = os.environ.get("PARTNERDIR_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _call(item):
    assert _job is not None
    return _job(item)


def fork_map(job: Callable[[Any], Any], items: Sequence, processes: int,
             meanwhile: Callable[[], None] | None = None) -> list:
    """[job(item) for item in items], spread over `processes` forked workers.

    `job` may use anything this process holds when fork_map is called. An exception in a
    worker is raised here; callers that need the original traceback (a template mistake) run
    the work again in-process.

    `meanwhile`, if given, is called here once the workers are forked, while they work: this
    process would otherwise only wait for them, and work that needs none of their results
    (saving to the disk what the build already knows) then costs no time of its own. Called
    only after the fork, it is never half done in a worker's copy of this process.
    """
    global _job
    if processes <= 1 or len(items) <= 1 or not can_fork():
        if meanwhile is not None:
            meanwhile()
        return [job(item) for item in items]
    _job = job
    try:
        with multiprocessing.get_context("fork").Pool(min(processes, len(items))) as pool:
            results = pool.map_async(_call, items, chunksize=1)
            if meanwhile is not None:
                meanwhile()
            return results.get()
    finally:
        _job = None


def beside(call: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Start `call(*args)` in a thread, for work that mostly waits on the disk or hashes large
    buffers (both let another thread run); the function returned waits for it and returns its
    result or raises its exception. A plain thread rather than concurrent.futures, whose pools
    refuse work once the interpreter is exiting: `serve` saves its cache from a thread that
    may still be at it then."""
    outcome: list = []

    def run() -> None:
        try:
            outcome.append((True, call(*args)))
        except BaseException as e:  # noqa: BLE001 - handed to whoever waits for it
            outcome.append((False, e))

    thread = threading.Thread(target=run, name=getattr(call, "__name__", "beside"))
    thread.start()

    def wait() -> Any:
        thread.join()
        ok, value = outcome[0]
        if not ok:
            raise value
        return value

    return wait


def forked(call: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Start `call(*args)` in a forked process, for work that this process would otherwise do
    alone before it can go on, while it does something else; the function returned waits for
    the result (sent back pickled) and returns it, or None if the work failed or could not be
    started, for the caller to do itself. Unlike `beside`'s thread, the work has a core of its
    own: Python code holds the interpreter's lock."""
    if not can_fork():
        return lambda: None
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    _widen(sender)  # (so that the process can send it all and end, whenever it is waited for)

    def run() -> None:
        try:
            message = pickle.dumps(call(*args), pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - the caller does the work itself
            message = b""
        sender.send_bytes(message)
        sender.close()

    process = context.Process(target=run, daemon=True)
    try:
        process.start()
    except OSError:
        receiver.close()
        sender.close()
        return lambda: None
    sender.close()
    outcome: list = []

    def wait() -> Any:
        if not outcome:
            try:
                message = receiver.recv_bytes()
                outcome.append(pickle.loads(message) if message else None)
            except Exception:  # noqa: BLE001 - it died, or sent what cannot be read
                outcome.append(None)
            finally:
                receiver.close()
                process.join()
        return outcome[0]

    return wait


def chunks(items: Sequence, count: int) -> list[list]:
    """`items` in `count` nearly equal, contiguous slices (order kept when they are joined)."""
    count = max(1, min(count, len(items)))
    size, extra = divmod(len(items), count)
    out, start = [], 0
    for i in range(count):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return [c for c in out if c]


def spans(length: int, count: int) -> list[tuple[int, int]]:
    """(start, end) of `chunks(range(length), count)`: positions, for workers that take their
    items from what they were forked with rather than have them pickled."""
    return [(chunk[0], chunk[-1] + 1) for chunk in chunks(range(length), count)]


def fork_imap(job: Callable[[Any], Any], items: Sequence, processes: int):
    """Like fork_map, but yields each result as soon as it and those before it are ready, so
    this process can work on the first results while `processes` workers (one is enough) make
    the rest; with 0, or without fork, the work is done here as it is asked for."""
    global _job
    if processes < 1 or not items or not can_fork():
        for item in items:
            yield job(item)
        return
    _job = job
    try:
        with multiprocessing.get_context("fork").Pool(min(processes, len(items))) as pool:
            yield from pool.imap(_call, items, chunksize=1)
    finally:
        _job = None



def fork_share(job: Callable[[Any], Any], items: Sequence, processes: int,
               meanwhile: Callable[[], None] | None = None) -> Iterator[tuple[int, Any]]:
    """(index, job(item)) for every item, as soon as each is done, with this process working too.

    fork_imap leaves this process waiting whenever its own share of the work (say, checking
    what the workers read) is lighter than theirs. Here `processes` forked workers take items
    from the front while this process, whenever no finished result is waiting, takes one from
    the back and does it itself, so every core works until the last item. Results come in no
    fixed order: callers put them back in order by index. A thread receives the workers'
    results, so a worker never waits for this process to be free. An item whose worker raised
    or died is done here instead (raising here, with its traceback, if it fails again). With 0
    processes, or without fork, everything is done here, in order. `meanwhile` is called here
    first, once the workers are forked, as in `fork_map`.
    """
    if processes < 1 or len(items) <= 1 or not can_fork():
        if meanwhile is not None:
            meanwhile()
        for index, item in enumerate(items):
            yield index, job(item)
        return
    context = multiprocessing.get_context("fork")
    lock = context.Lock()
    ends = context.RawArray("q", [0, len(items)])  # next free item from the front; one past the last free
    arrived: queue.SimpleQueue = queue.SimpleQueue()

    def take(front: bool) -> int | None:
        with lock:
            if ends[0] >= ends[1]:
                return None
            if front:
                ends[0] += 1
                return ends[0] - 1
            ends[1] -= 1
            return ends[1]

    def work(sender) -> None:
        while (index := take(True)) is not None:
            try:
                message = pickle.dumps((index, True, job(items[index])), pickle.HIGHEST_PROTOCOL)
            except Exception:  # noqa: BLE001 - done again in the parent, which raises it there
                message = pickle.dumps((index, False, None))
            sender.send_bytes(message)

    def receive(receiver) -> None:
        try:
            while True:
                arrived.put(receiver.recv_bytes())
        except (EOFError, OSError):
            arrived.put(None)  # the worker has finished, or died
        finally:
            receiver.close()

    workers, receivers, threads = [], [], []
    done = bytearray(len(items))
    try:
        for _ in range(min(processes, len(items) - 1)):  # every fork before the first thread starts
            receiver, sender = context.Pipe(duplex=False)
            _widen(sender)
            worker = context.Process(target=_run_worker, args=(work, sender), daemon=True)
            worker.start()
            sender.close()
            workers.append(worker)
            receivers.append(receiver)
        for receiver in receivers:
            threads.append(threading.Thread(target=receive, args=(receiver,), daemon=True))
            threads[-1].start()
        if meanwhile is not None:
            meanwhile()
        running = len(workers)
        while running:
            try:
                message = arrived.get_nowait()
            except queue.Empty:
                index = take(False)
                if index is None:
                    message = arrived.get()
                else:
                    done[index] = 1
                    yield index, job(items[index])
                    continue
            if message is None:
                running -= 1
                continue
            index, ok, result = pickle.loads(message)
            done[index] = 1
            yield index, result if ok else job(items[index])
        # Whatever a worker took and never sent back, because it died.
        for index, item in enumerate(items):
            if not done[index]:
                yield index, job(item)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for thread in threads:
            thread.join()


def share_map(job: Callable[[Any], Any], items: Sequence, processes: int,
              meanwhile: Callable[[], None] | None = None) -> list:
    """[job(item) for item in items] done by this process and `processes` forked workers
    (`fork_share`): the results in the order of `items`."""
    results: list = [None] * len(items)
    for index, result in fork_share(job, items, processes, meanwhile):
        results[index] = result
    return results


def _run_worker(work: Callable[[Any], None], sender) -> None:
    try:
        work(sender)
    finally:
        sender.close()


def _widen(connection) -> None:
    """The pipe made as large as the system allows (1 MiB on Linux, against 64 KiB), so a
    worker hands over a whole batch at once instead of waiting for the receiving thread."""
    try:
        import fcntl

        with open("/proc/sys/fs/pipe-max-size") as f:
            size = int(f.read())
        fcntl.fcntl(connection.fileno(), fcntl.F_SETPIPE_SZ, size)
    except (ImportError, OSError, ValueError, AttributeError):
        pass
