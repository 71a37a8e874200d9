"""Run each analysis where it can be stopped: a child process with a time and a memory budget per task.

Each worker keeps one analysis child, forked from it once the models are
loaded (so it shares them copy-on-write and starts warm), and hands it one
task at a time over a pipe. Before each task the child limits its own address
space to its current size plus the budget (RLIMIT_AS) and its CPU time to what
it has used plus the budget (RLIMIT_CPU); the worker waits for the answer
until the wall-clock budget and then kills the child and forks a fresh one.
So a hostile upload costs at most its budget, the worker lives on to serve the
next request, and nothing the child decoded can grow the worker. A child that
has grown (caches, a fragmented heap) past `recycle_mb` is replaced after its
task. The child dies with its worker (PR_SET_PDEATHSIG), so a killed worker
leaves no analysis running.

Forking per task would do the same with less state, but costs ~25-40 ms per
request on a loaded 2-core machine (page tables and copy-on-write faults of a
200 MB process); a kept child costs a pipe round trip.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import resource
import select
import signal
import struct
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.serving.webapp.uploads import UploadError

log = logging.getLogger("genrec.serve")
PR_SET_PDEATHSIG = 1
HEADER = struct.Struct(">Q")


@dataclass(frozen=True)
class Budget:
    seconds: float
    memory_mb: int


class AnalysisFailed(Exception):
    """The task raised something other than UploadError (a bug, reported as 500); carries its traceback."""


def vm_size_bytes() -> int:
    """This process's virtual size (what RLIMIT_AS counts)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def rss_mb(pid: int | str = "self") -> float:
    """A process's resident memory now, in MB."""
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def die_with_parent() -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: the budget still bounds each task
        pass


def gevent_patched() -> bool:
    try:
        from gevent import monkey
    except ImportError:
        return False
    return monkey.is_module_patched("os")


def unpatched(name: str) -> Callable:
    """os.<name> as the standard library has it, also under gevent's monkey patching."""
    if gevent_patched():
        from gevent import monkey

        return monkey.get_original("os", name)
    return getattr(os, name)


def fork() -> int:
    """os.fork; under gevent's monkey patching, the plain fork with gevent watching the child in the
    worker (its SIGCHLD handler reaps every child, so its waitpid is the one that gets the status).
    The child never yields to gevent's event loop: it uses only unpatched calls."""
    if not gevent_patched():
        return os.fork()
    import gevent.os

    return gevent.os.fork_and_watch(fork=unpatched("fork"))


def write_message(fd: int, message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(HEADER.pack(len(payload)) + payload)
    while view:
        view = view[os.write(fd, view) :]


def read_exactly(fd: int, size: int, deadline: float | None) -> bytes | None:
    """`size` bytes from a pipe, or None at end of file; TimeoutError past the deadline
    (select is gevent's under gunicorn's gevent worker, so the worker's other connections go on)."""
    chunks, missing = [], size
    while missing:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, deadline: float | None = None) -> Any:
    """The next message, or None at end of file (the other side is gone)."""
    header = read_exactly(fd, HEADER.size, deadline)
    if header is None:
        return None
    payload = read_exactly(fd, HEADER.unpack(header)[0], deadline)
    return None if payload is None else pickle.loads(payload)


def limit_task(budget: Budget) -> None:
    """This process may grow by the budget's memory and use the budget's CPU seconds, from now."""
    memory = vm_size_bytes() + budget.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, resource.RLIM_INFINITY))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = int(usage.ru_utime + usage.ru_stime + budget.seconds) + 1  # then SIGXCPU ends the process
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, resource.RLIM_INFINITY))


def run_task(work: Callable[[Any], Any], task: Any) -> tuple[str, Any]:
    try:
        return "ok", work(task)
    except UploadError as failure:
        return "upload_error", (str(failure), failure.status)
    except MemoryError:
        return "memory", None
    except Exception as failure:
        # OpenCV and numpy report a failed allocation as errors of their own.
        text = str(failure).lower()
        if "memory" in text or "alloc" in text:
            return "memory", None
        return "error", traceback.format_exc()


def close_inherited(keep: set[int]) -> None:
    """Close the worker's descriptors (its listening socket, its clients' connections): a connection
    the worker closes must not stay open in the child."""
    close = unpatched("close")  # gevent's close would wait on the event loop for sockets
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd not in keep:
            try:
                close(fd)
            except OSError:  # the descriptor listdir itself used
                pass


def child_loop(tasks: int, answers: int, budget: Budget, work: Callable[[Any], Any]) -> None:
    """In the child: one task at a time until the worker closes the pipe; never returns."""
    try:
        die_with_parent()
        close_inherited({tasks, answers})
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        while True:
            task = read_message(tasks)
            if task is None:
                break
            limit_task(budget)
            kind, value = run_task(work, task)
            resource.setrlimit(resource.RLIMIT_AS, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
            # ru_maxrss counts the pages shared with the worker too: the whole footprint of the analyses.
            peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            write_message(answers, (kind, value, peak_mb, rss_mb()))
    finally:
        os._exit(0)


class AnalysisChild:
    """A worker's analysis child: `run(task)` returns `work(task)` computed in the child within the budget."""

    def __init__(self, work: Callable[[Any], Any], budget: Budget, recycle_mb: float):
        self.work, self.budget, self.recycle_mb = work, budget, recycle_mb
        self.pid: int | None = None
        self.owner = os.getpid()

    def spawn(self) -> None:
        parent_tasks, child_tasks = os.pipe()
        child_answers, parent_answers = os.pipe()
        pid = fork()
        if pid == 0:
            os.close(child_tasks)
            os.close(child_answers)
            child_loop(parent_tasks, parent_answers, self.budget, self.work)
        os.close(parent_tasks)
        os.close(parent_answers)
        self.pid, self.tasks, self.answers = pid, child_tasks, child_answers
        self.spawned_rss = rss_mb()

    def retire(self, kill: bool) -> int:
        """End the child (killed, or told to stop by closing its pipe); its wait status."""
        pid, self.pid = self.pid, None
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # it has already ended (and been reaped)
                pass
        os.close(self.tasks)
        os.close(self.answers)
        # gevent's waitpid when patched: its child watcher reaps the children gevent forked.
        return os.waitpid(pid, 0)[1]

    def run(self, task: Any) -> Any:
        """The task's result, or UploadError: 422 past the time budget or if the child died, 413 past
        the memory budget; AnalysisFailed for a bug."""
        if self.pid is None or self.owner != os.getpid():
            self.owner = os.getpid()
            self.spawn()
        started = time.monotonic()
        try:
            try:
                write_message(self.tasks, task)
            except BrokenPipeError:  # it ended between tasks (the OOM killer, its forking thread's end)
                self.retire(kill=True)
                self.spawn()
                write_message(self.tasks, task)
            answer = read_message(self.answers, started + self.budget.seconds)
        except TimeoutError:
            self.retire(kill=True)
            log.info("analysis: stopped at the %g s budget", self.budget.seconds)
            raise UploadError(
                f"the analysis was stopped: it needs more than the {self.budget.seconds:g} s allowed", 422
            ) from None
        except BrokenPipeError:
            answer = None
        if answer is None:  # the child died: CPU limit, a decoder's crash, the OOM killer
            status = self.retire(kill=True)
            log.info("analysis: the child died (wait status %d)", status)
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
                raise UploadError(
                    f"the analysis was stopped: it needs more than the {self.budget.seconds:g} s of CPU allowed", 422
                )
            raise UploadError("the file could not be analysed: its decoder failed", 422)
        kind, value, peak_mb, now_mb = answer
        log.info(
            "analysis: %.2f s, %s, child peak RSS %d MB, now %d MB", time.monotonic() - started, kind, peak_mb, now_mb
        )
        if kind == "memory" or now_mb - self.spawned_rss > self.recycle_mb:
            self.retire(kill=True)  # whatever it kept, a fresh child starts from the worker's state
        if kind == "ok":
            return value
        if kind == "upload_error":
            raise UploadError(*value)
        if kind == "memory":
            raise UploadError(
                f"the analysis was stopped: it needs more than the {self.budget.memory_mb} MB of memory allowed", 413
            )
        raise AnalysisFailed(value)
