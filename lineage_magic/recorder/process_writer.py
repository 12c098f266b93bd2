"""The writer in its own process: the kernel pickles records down a pipe.

Writing lineage costs CPU: SQLAlchemy takes a seventh of a second to import
and about 0.15 ms of Python per cell to write, and in a thread of the kernel
all of it would share the kernel's GIL with the user's code (worse: each time
the user's thread releases the GIL for I/O, it may wait for the writer to give
it back). In a child process it runs on another core, and the kernel's share
is one pickle and one pipe write per batch of cells (up to 50 ms of them),
on a feeder thread.

The child runs the same ``BackgroundWriter`` (batching, retries while the
database is away, a deleted SQLite file recreated), fed from its stdin, and
reports its state on its stdout. When the kernel dies (even by SIGKILL) its
end of the pipe closes: the child writes everything it received, marks the
run ``aborted`` if nobody finished it, and exits.

A process that launches kernels with the store already open (``lineage-magic
run``, replay) serves them itself instead (``prepare``): the kernel inherits
the two pipe ends and talks to the same ``serve`` loop, run on a thread of
its launcher.

Messages are pickles, each preceded by its length (4 bytes, big-endian).
Kernel to child: ``("hello", url, max_queue)``, ``("items", [(item, preamble), ...])``,
``("flush", token, timeout)``, ``("close", token, timeout)``. Child to kernel:
``("state", degraded, notice, stats)`` when something changed, and
``("done", token, ok, stats, degraded, notice)`` in reply to a flush or
close (so that what a flush found out is known when it returns). A launcher
that knows the notebook also sends ``("analyses", fingerprint, pickle)``
once, right after the hello: its cells analysed ahead (``ahead``).
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from .ahead import analyses_message, take_analyses
from .writer import WriterStats

log = logging.getLogger(__name__)

_LENGTH = struct.Struct("!I")
LINGER_S = 120.0
"""How long the writer goes on trying to write, after its kernel closed it or died."""

RESPAWN_AFTER_S = 1.0
"""The least time between two starts of the child, should it die."""

FEED_LINGER_S = 0.05
"""How long the feeder waits for more records before sending what it has."""

FEED_MAX_BATCH = 200

WRITE_LINGER_S = 0.2
"""How long the writer gathers records into one transaction (a flush cuts it short)."""

FINISH_LINGER_S = 30.0
"""How long a launcher's writer goes on trying, after its kernel has gone, if the database is away."""

_FLUSH = object()


def send(stream: BinaryIO, message: tuple[Any, ...]) -> None:
    """Write one length-prefixed pickle and push it out."""
    write_frame(stream, pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))


def write_frame(stream: BinaryIO, data: bytes) -> None:
    """Write one pickled message, its length first, and push it out."""
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def receive(stream: BinaryIO) -> tuple[Any, ...] | None:
    """Read one message; None at the end of the stream."""
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (size,) = _LENGTH.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        return None
    return pickle.loads(data)


class ProcessWriter:
    """The kernel's side: ``BackgroundWriter``'s interface over a child process."""

    def __init__(self, url: str, *, max_queue: int = 100_000, name: str = "lineage-writer",
                 inherited: tuple[int, int] | None = None) -> None:
        self._url = url
        self._max_queue = max_queue
        self._queue: deque[tuple[Any, bool]] = deque()
        self._cond = threading.Condition()
        self._tokens = itertools.count(1)
        self._replies: dict[int, bool] = {}  # request token -> whether all was written
        self._sending = 0
        self._feeder_idle = False  # waiting for a first record, not lingering for more
        self._asked = 0  # flush or close requests queued: send without lingering
        self._child_pending = 0
        self._preamble: Any = None
        self._stopping = False
        self._started_at = 0.0
        self.degraded: str | None = None
        self._notice: str | None = None
        self.stats = WriterStats()
        self._local = WriterStats()  # what the kernel's side itself dropped or rejected
        self._proc: subprocess.Popen[bytes] | _Inherited | None = None
        self._unheard: subprocess.Popen[bytes] | _Inherited | None = None
        if inherited is None or not self._adopt(inherited):
            self._spawn()
        self._feeder = threading.Thread(target=self._feed, name=name, daemon=True)
        self._feeder.start()

    # -- user thread -------------------------------------------------------

    def put(self, item: Any, *, preamble: bool = False) -> None:
        """Queue one item; cheap, never blocks, never raises."""
        with self._cond:
            if preamble:
                self._preamble = item
            if len(self._queue) >= self._max_queue:
                self._queue.popleft()
                self._local.dropped_full += 1
                self.stats.dropped_full += 1
            self._queue.append((item, preamble))
            if self._feeder_idle or len(self._queue) >= FEED_MAX_BATCH:
                # Only wake a feeder that sleeps, or cut a batch short: while cells
                # run back to back the feeder wakes on its own clock, and waking it
                # for a cell would take the GIL from this thread as the cell ends.
                self._feeder_idle = False
                self._cond.notify_all()

    def pending(self) -> int:
        """Items queued here or not yet written by the child."""
        with self._cond:
            return len(self._queue) + self._sending + self._child_pending

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is written; False on timeout."""
        return self._request("flush", timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued, then let the child exit. Returns whether all was written."""
        done = self._request("close", timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        proc = self._proc
        if proc is not None:
            if not done:
                # The database is away: the child goes on trying alone, for LINGER_S.
                log.warning("lineage writer process %s still has records to write", proc.pid)
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            # Everything is written (or left to the child): nobody waits for it to exit.
            threading.Thread(target=proc.wait, name="lineage-writer-reaper", daemon=True).start()
        self._feeder.join(timeout=1.0)
        return done

    @property
    def store(self) -> None:
        """The store lives in the child: the kernel opens its own when asked."""
        return None

    def take_notice(self) -> str | None:
        """A one-time message for the user (e.g. the store file was recreated), or None."""
        with self._cond:
            notice, self._notice = self._notice, None
        return notice

    def _request(self, kind: str, timeout: float) -> bool:
        token = next(self._tokens)
        deadline = time.monotonic() + timeout
        with self._cond:
            if self._stopping:
                return not self._queue
            self._queue.append(((_FLUSH, kind, token, timeout), False))
            self._asked += 1
            self._cond.notify_all()
            while token not in self._replies:
                remaining = deadline - time.monotonic()
                proc = self._proc
                if remaining <= 0 or proc is None or (self._unheard is proc and not self._queue
                                                      and not self._sending):
                    return False
                self._cond.wait(min(remaining, 0.1))
            return self._replies.pop(token)

    # -- feeder thread -----------------------------------------------------

    def _feed(self) -> None:
        """Send queued items to the child in order, restarting it if it died.

        Records are sent at most every ``FEED_LINGER_S``: the first record
        after a quiet spell wakes the feeder, which lingers for more; after
        a send it lingers again, and only goes back to sleep (to be woken by
        the next record) when that linger brought nothing.
        """
        deadline = 0.0  # nothing sent yet: sleep until the first record
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining > 0:
                        self._cond.wait(remaining)
                    else:
                        self._feeder_idle = True
                        self._cond.wait()
                        deadline = time.monotonic() + FEED_LINGER_S
                self._feeder_idle = False
                if not self._queue:
                    return
                # Cells run back to back: send them together rather than take
                # the GIL from the user's thread once per cell.
                while (not self._asked and not self._stopping and len(self._queue) < FEED_MAX_BATCH
                       and (remaining := deadline - time.monotonic()) > 0):
                    self._cond.wait(remaining)
                self._asked = 0
                batch = list(self._queue)
                self._queue.clear()
                self._sending = len(batch)
            for message in self._messages(batch):
                self._send(message)
            deadline = time.monotonic() + FEED_LINGER_S
            with self._cond:
                self._sending = 0
                self._cond.notify_all()

    def _messages(self, batch: list[tuple[Any, bool]]) -> Iterator[bytes]:
        """The batch as pickled messages, in order: each run of records is one pickle.

        One pickle for many cells is smaller and cheaper than one each (the
        rows' keys and the classes are written once), and the child reads
        them in one go.
        """
        records: list[tuple[Any, bool]] = []
        for item, preamble in batch:
            if isinstance(item, tuple) and item and item[0] is _FLUSH:
                if records:
                    yield from self._pickled_records(records)
                    records = []
                _, kind, token, timeout = item
                yield pickle.dumps((kind, token, timeout), protocol=pickle.HIGHEST_PROTOCOL)
                continue
            resolve = getattr(item, "resolve", None)
            if resolve is not None:
                # Work that must finish in the kernel first (hashing files the cell touched).
                item = resolve()
                if item is None:
                    continue
            records.append((item, preamble))
        if records:
            yield from self._pickled_records(records)

    def _pickled_records(self, records: list[tuple[Any, bool]]) -> Iterator[bytes]:
        try:
            whole = pickle.dumps(("items", records), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # noqa: BLE001 - each is tried alone below; the one that cannot cross is counted
            log.debug("%d lineage records could not be pickled together (%r); sending them one by one",
                      len(records), err)
        else:
            yield whole
            return
        for record in records:
            try:
                data = pickle.dumps(("items", [record]), protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as err:  # noqa: BLE001 - one unpicklable record must not stop the rest
                with self._cond:
                    self._local.rejected += 1
                    self.stats.rejected += 1
                log.error("lineage record could not be sent to the writer: %r", err)
                continue
            yield data

    def _send(self, data: bytes) -> None:
        for attempt in range(2):
            proc = self._proc
            try:
                if proc is None or proc.stdin is None:
                    raise BrokenPipeError("no writer process")
                write_frame(proc.stdin, data)
                return
            except (BrokenPipeError, OSError, ValueError) as err:
                if self._stopping or attempt:
                    log.error("lineage writer process is gone; a record was lost: %r", err)
                    return
                self._respawn()

    # -- the child's lifecycle -----------------------------------------------

    def _spawn(self) -> None:
        self._started_at = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "lineage_magic.recorder.process_writer"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=_child_env(), close_fds=True,
            # Its own session: an interrupt sent to the kernel's process group is not for it.
            start_new_session=True,
        )
        self._greet(proc)

    def _adopt(self, fds: tuple[int, int]) -> bool:
        """Use the writer of whoever launched this kernel, through inherited pipe ends (see ``prepare``)."""
        files: list[BinaryIO] = []
        try:
            for fd in fds:
                # Ours alone: a subprocess of the user's holding it would hide the kernel's exit.
                os.set_inheritable(fd, False)
            files.append(os.fdopen(fds[0], "wb"))
            files.append(os.fdopen(fds[1], "rb"))
            self._started_at = time.monotonic()
            self._greet(_Inherited(files[0], files[1]))
        except (OSError, ValueError) as err:
            log.warning("lineage_magic: the writer this kernel was given is unusable (%s); "
                        "starting a writer process", err)
            for file in files:
                file.close()
            for fd in fds[len(files):]:
                try:
                    os.close(fd)
                except OSError:
                    pass
            return False
        return True

    def _greet(self, proc: subprocess.Popen[bytes] | _Inherited) -> None:
        self._proc = proc
        assert proc.stdin is not None
        # The URL travels in the pipe, not on a command line any local user can read.
        send(proc.stdin, ("hello", self._url, self._max_queue))
        threading.Thread(target=self._listen, args=(proc,), name="lineage-writer-replies", daemon=True).start()

    def _respawn(self) -> None:
        """Start the child again (it died) and send it the run's start first."""
        old = self._proc
        code = old.poll() if old is not None else None
        if old is not None and old.stdin is not None:
            try:
                old.stdin.close()
            except OSError:
                pass
        log.error("lineage writer process exited (code %s); starting it again", code)
        with self._cond:
            self.degraded = f"writer process exited (code {code}); restarted"
        wait = RESPAWN_AFTER_S - (time.monotonic() - self._started_at)
        if wait > 0:
            time.sleep(wait)
        self._spawn()
        if self._preamble is not None and self._proc is not None and self._proc.stdin is not None:
            try:
                send(self._proc.stdin, ("items", [(self._preamble, True)]))
            except (BrokenPipeError, OSError, ValueError):
                log.error("lineage writer process died again at start")

    def _listen(self, proc: subprocess.Popen[bytes] | _Inherited) -> None:
        """Read the child's state and replies until it exits."""
        assert proc.stdout is not None
        while True:
            try:
                message = receive(proc.stdout)
            except (OSError, ValueError, pickle.UnpicklingError, EOFError):
                message = None
            if message is None:
                proc.stdout.close()
                if isinstance(proc, _Inherited):
                    proc.returncode = 0 if self._stopping else -1
                break
            if message[0] == "analyses":
                take_analyses(message)
                continue
            with self._cond:
                if message[0] == "state":
                    _, self.degraded, notice, stats = message
                    if notice:
                        self._notice = notice
                    self._update(stats)
                elif message[0] == "done":
                    _, token, ok, stats, self.degraded, notice = message
                    if notice:
                        self._notice = notice
                    self._update(stats)
                    self._replies[token] = ok
                self._cond.notify_all()
        with self._cond:
            self._unheard = proc  # exited: no reply will come from it any more
            if self._proc is proc:
                self._child_pending = 0
            self._cond.notify_all()

    def _update(self, stats: dict[str, Any]) -> None:
        """Take the child's counters, plus what this side dropped before sending."""
        self._child_pending = stats.pop("pending", 0)
        for key, value in stats.items():
            setattr(self.stats, key, value)
        self.stats.dropped_full += self._local.dropped_full
        self.stats.rejected += self._local.rejected


class _Inherited:
    """The writer of this kernel's launcher, reached through two inherited pipe ends."""

    pid = "(the kernel's launcher)"

    def __init__(self, stdin: BinaryIO, stdout: BinaryIO) -> None:
        self.stdin = stdin
        self.stdout = stdout
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """None while it answers; a code once its output ended."""
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """Nothing to reap: the writer runs in the launcher."""
        return self.returncode


class Prepared:
    """A writer serving one kernel from the launcher's own process, through two pipes.

    ``lineage-magic run`` and replay launch kernels from a process that has
    the store open already: writing there spares each kernel a process of
    its own, which would spend about 0.3 s of CPU importing SQLAlchemy and
    opening the store while the first cells run. The launcher passes
    ``fds`` to the kernel (``pass_fds``) with ``argument``, calls
    ``release`` once the kernel is launched (the kernel then holds the only
    write end, so its exit, SIGKILL included, ends the input as it would a
    child's), and ``finish`` after the kernel has gone.
    """

    def __init__(self, fds: tuple[int, int], inbox: BinaryIO, outbox: BinaryIO,
                 sources: list[str] | None = None) -> None:
        self.fds = fds
        self.result: int | None = None
        self._released = threading.Event()
        self._thread = threading.Thread(target=self._serve, args=(inbox, outbox, sources or []),
                                        name="lineage-writer-for-kernel", daemon=True)
        self._thread.start()

    @property
    def argument(self) -> str:
        """The kernel's command-line option that adopts this writer."""
        return f"--LineageMagic.writer_pipe={self.fds[0]},{self.fds[1]}"

    def release(self) -> None:
        """Close the launcher's copies of the kernel's pipe ends (idempotent)."""
        if self._released.is_set():
            return
        self._released.set()
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass

    def finish(self, timeout: float) -> bool:
        """Wait until the kernel's records are written; False if some are not (the database is away)."""
        self.release()
        self._thread.join(timeout)
        return self.result in (0, 2)  # 2: the kernel never connected, so nothing was lost

    def _serve(self, inbox: BinaryIO, outbox: BinaryIO, sources: list[str]) -> None:
        try:
            ahead = None
            if sources:
                # Once the kernel is launched (not to slow its launch), while it boots.
                self._released.wait()
                try:
                    ahead = analyses_message(sources)
                except Exception as err:  # noqa: BLE001 - the kernel analyses its cells itself
                    log.warning("lineage_magic: cannot analyse the notebook's cells ahead: %r", err)
            self.result = serve(inbox, outbox, linger=FINISH_LINGER_S, ahead=ahead)
        except Exception as err:  # noqa: BLE001 - the kernel's side notices the closed pipe and starts its own
            log.error("lineage writer for a launched kernel failed: %r", err)
            self.result = 1
        finally:
            inbox.close()
            outbox.close()


def prepare(sources: list[str] | None = None) -> Prepared | None:
    """Pipes and a writer thread for a kernel about to be launched; None where that cannot be done.

    ``sources``: the cells the kernel will run, to be analysed ahead for it.
    """
    if os.name != "posix":
        return None
    opened: list[int] = []
    try:
        to_writer = os.pipe()
        opened += to_writer
        from_writer = os.pipe()
        opened += from_writer
        inbox = os.fdopen(to_writer[0], "rb")
        outbox = os.fdopen(from_writer[1], "wb")
    except OSError as err:
        log.warning("lineage_magic: cannot prepare a writer for the kernel (%s)", err)
        for fd in opened:
            try:
                os.close(fd)
            except OSError:
                pass
        return None
    return Prepared((to_writer[1], from_writer[0]), inbox, outbox, sources)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    return env


# -- the child -------------------------------------------------------------


def _stats_of(writer: Any) -> dict[str, Any]:
    from dataclasses import asdict

    stats = asdict(writer.stats)
    stats["pending"] = writer.pending()
    return stats


def main() -> int:
    """Run the writer process: read items from stdin, write them, report on stdout."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = sys.stdin.buffer
    # Our replies get the real stdout; anything else printing goes to stderr.
    outbox = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return serve(inbox, outbox, choose=True, on_closed=_drop_output, linger=LINGER_S)


def _drop_output() -> None:
    """Hold no pipe of the kernel's (or of whoever reads its output) open while lingering."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def serve(inbox: BinaryIO, outbox: BinaryIO, *, choose: bool = False,
          on_closed: Callable[[], None] | None = None, linger: float = LINGER_S,
          ahead: tuple[Any, ...] | None = None) -> int:
    """Write what one kernel sends on ``inbox``; report on ``outbox``; return when it is gone.

    ``choose``: make the kernel's store this process's API store (the writer
    process; not a launcher, whose own choice stands). ``linger``: how long
    to go on trying, after the kernel closed or died, if the database is away.
    ``ahead``: an ``("analyses", ...)`` message to send the kernel first.
    Returns 0 when everything was written, 1 when not, 2 when no kernel spoke.
    """
    hello = receive(inbox)
    if hello is None or hello[0] != "hello":
        return 2
    _, url, max_queue = hello

    from .. import context
    from .items import FinishRun, StartRun
    from .writer import BackgroundWriter

    if choose:
        context.choose(url)
    changed = threading.Event()  # set by the writer after each batch, and at the end
    writer = BackgroundWriter(lambda: context.open_store(url), max_queue=max_queue, linger=WRITE_LINGER_S,
                              on_batch=changed.set)
    out_lock = threading.Lock()
    finished = threading.Event()

    def reply(message: tuple[Any, ...]) -> None:
        with out_lock:
            try:
                send(outbox, message)
            except (BrokenPipeError, OSError, ValueError):
                pass  # the kernel is gone; the records still get written

    def report_state() -> None:
        # Woken by the writer, not by a clock: an idle kernel's writer sleeps.
        last: tuple[Any, ...] | None = None
        while True:
            changed.wait()
            changed.clear()
            if finished.is_set():
                return
            notice = writer.take_notice()
            stats = _stats_of(writer)
            state = (writer.degraded, stats["written"], stats["failures"], stats["rejected"], stats["recovered"])
            if notice or state != last:
                last = state
                reply(("state", writer.degraded, notice, stats))

    def answer(kind: str, token: int, timeout: float) -> None:
        ok = writer.flush(timeout)
        reply(("done", token, ok, _stats_of(writer), writer.degraded, writer.take_notice()))

    if ahead is not None:
        reply(ahead)
    threading.Thread(target=report_state, name="lineage-writer-state", daemon=True).start()
    run_id: str | None = None
    closing: tuple[int, float] | None = None
    while True:
        try:
            message = receive(inbox)
        except (OSError, ValueError, pickle.UnpicklingError, EOFError) as err:
            log.error("lineage writer could not read a record: %r", err)
            message = None
        if message is None:
            break
        kind = message[0]
        if kind == "items":
            for item, preamble in message[1]:
                if isinstance(item, StartRun):
                    run_id = item.id
                elif isinstance(item, FinishRun) and item.run_id == run_id:
                    run_id = None
                writer.put(item, preamble=preamble)
        elif kind == "flush":
            _, token, timeout = message
            threading.Thread(target=answer, args=(kind, token, timeout), daemon=True).start()
        elif kind == "close":
            _, token, timeout = message
            closing = (token, timeout)
            break
    if closing is None and run_id is not None:
        # The kernel went away without finishing its run: it was killed.
        writer.put(FinishRun(run_id, "aborted"))
    if closing is not None:
        token, timeout = closing
        ok = writer.flush(timeout)
        reply(("done", token, ok, _stats_of(writer), writer.degraded, writer.take_notice()))
    finished.set()
    changed.set()
    with out_lock:
        outbox.close()
    if on_closed is not None:
        on_closed()
    # What is still queued (the database is away) gets written if it comes back within ``linger``.
    return 0 if writer.close(linger) else 1




if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="lineage_magic writer: %(message)s")
    sys.exit(main())
