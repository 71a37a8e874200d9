"""Run one analysis where it can be stopped: a forked child with a time and a memory budget.

The child inherits the loaded models (fork, copy-on-write), so starting it
costs milliseconds. It gets an address-space limit (the worker's size plus
the budget) and a CPU-time limit; the worker waits for its answer on a pipe
until the wall-clock budget and then kills it. Whatever the child decoded or
cached dies with it, so a hostile upload cannot leave a worker bigger than it
was, and the worker lives on to serve the next request. The child also dies
with the worker (PR_SET_PDEATHSIG), so a killed worker leaves no analysis behind.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import resource
import select
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

from pipeline.webapp.uploads import UploadError

log = logging.getLogger("genrec.serve")

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class Budget:
    seconds: float
    memory_mb: int


class AnalysisFailed(Exception):
    """The child raised something other than UploadError (a bug, reported as 500); carries its traceback."""


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
    except (OSError, AttributeError):  # not Linux: the budget still bounds the child's life
        pass


def limit_child(budget: Budget, vm_base: int) -> None:
    memory = vm_base + budget.memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(budget.seconds) + 1  # SIGXCPU, whose default action ends the process
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def child_main(write_fd: int, budget: Budget, vm_base: int, work: Callable[[], Any]) -> None:
    """In the child: limits, the work, its outcome pickled to the pipe; never returns."""
    code = 0
    try:
        die_with_parent()
        limit_child(budget, vm_base)
        try:
            outcome = ("ok", work())
        except UploadError as failure:
            outcome = ("upload_error", (str(failure), failure.status))
        except MemoryError:
            outcome = ("memory", None)
        except Exception as failure:
            # OpenCV and numpy report a failed allocation as their own errors.
            if "memory" in str(failure).lower() or "alloc" in str(failure).lower():
                outcome = ("memory", None)
            else:
                outcome = ("error", traceback.format_exc())
        # ru_maxrss counts the pages shared with the worker too: the whole footprint of this analysis.
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
        payload = pickle.dumps((*outcome, peak_mb), protocol=pickle.HIGHEST_PROTOCOL)
        view = memoryview(payload)
        while view:
            view = view[os.write(write_fd, view):]
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def read_until(read_fd: int, deadline: float) -> bytes | None:
    """Everything the child writes, or None if the deadline passes first (select is gevent's when patched)."""
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        ready, _, _ = select.select([read_fd], [], [], remaining)
        if not ready:
            return None
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def run_within(budget: Budget, work: Callable[[], Any]) -> Any:
    """work() run in a child under the budget; its result, or UploadError (422 past the time,
    413 past the memory, 422 if the child died some other way); AnalysisFailed for a bug."""
    vm_base = vm_size_bytes()
    started = time.monotonic()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        child_main(write_fd, budget, vm_base, work)
    os.close(write_fd)
    payload = None
    try:
        payload = read_until(read_fd, time.monotonic() + budget.seconds)
    finally:
        os.close(read_fd)
        if payload is None:
            os.kill(pid, signal.SIGKILL)
        # The child has closed its pipe: it is exiting. (gevent's waitpid when patched: its
        # child watcher reaps the children it forked.)
        _, status = os.waitpid(pid, 0)
    if not payload:
        log.info("analysis child: %.2f s, %s", time.monotonic() - started,
                 "killed past the time budget" if payload is None else f"died (status {status})")
    if payload is None:
        raise UploadError(f"the analysis was stopped: it needs more than the {budget.seconds:g} s allowed", 422)
    if not payload:
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
            raise UploadError(f"the analysis was stopped: it needs more than the {budget.seconds:g} s allowed", 422)
        raise UploadError("the file could not be analysed: its decoder failed", 422)
    kind, value, peak_mb = pickle.loads(payload)
    log.info("analysis child: %.2f s, peak RSS %d MB, %s", time.monotonic() - started, peak_mb, kind)
    if kind == "ok":
        return value
    if kind == "upload_error":
        raise UploadError(*value)
    if kind == "memory":
        raise UploadError(f"the analysis was stopped: it needs more than the {budget.memory_mb} MB of memory allowed", 413)
    raise AnalysisFailed(value)
