"""The alert sinks' writer thread: order, exactly once through failures, the bound, a gap
record where items were dropped, coalescing for state files. The write function here is a
plain callable held by a gate, so each state is reached on purpose, not by timing."""

from __future__ import annotations

import errno
import threading

from autoglm_tui.alerting.write_queue import WriteQueue, plain_error


class Sink:
    """A write function: refuses with ENOSPC while `full` is set, waits while `gate` is clear."""

    def __init__(self) -> None:
        self.out: list[object] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.full = False

    def __call__(self, item: object) -> None:
        self.entered.set()
        self.gate.wait()
        if item == "bad":
            raise ValueError("cannot be written")
        if self.full:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.out.append(item)


def test_items_are_written_in_order_once_each_through_a_full_disk() -> None:
    sink = Sink()
    q = WriteQueue(sink, retry_s=0.01, retry_max_s=0.02)
    q.put(1)
    assert q.flush(30)
    sink.full = True
    for i in range(2, 7):
        q.put(i)
    for _ in range(3000):  # until the head has been refused a few times (a guard, not a clock)
        if q.health().failures >= 3:
            break
        threading.Event().wait(0.01)
    health = q.health()
    assert health.error == "disk full" and health.queued == 5 and sink.out == [1]
    sink.full = False
    q.retry_now()
    assert q.flush(30)
    assert sink.out == [1, 2, 3, 4, 5, 6]
    health = q.health()
    assert health.error is None and health.queued == 0 and health.written == 6
    q.close()


def test_a_full_queue_drops_the_oldest_and_marks_the_gap() -> None:
    sink = Sink()
    sink.gate.clear()
    q = WriteQueue(sink, max_items=3, gap=lambda n: ("gap", n))
    q.put(1)
    assert sink.entered.wait(30)  # 1 is being written (held at the gate)
    for i in range(2, 7):
        q.put(i)  # 2 and 3 fall out of the bounded queue
    health = q.health()
    assert health.queued == 4 and health.dropped == 2
    sink.gate.set()
    assert q.flush(30)
    assert sink.out == [1, ("gap", 2), 4, 5, 6]
    q.close()


def test_a_state_file_queue_writes_only_the_newest() -> None:
    sink = Sink()
    sink.gate.clear()
    q = WriteQueue(sink, coalesce=True)
    q.put("v1")
    assert sink.entered.wait(30)
    for v in ("v2", "v3", "v4"):
        q.put(v)
    assert q.queued == 2 and q.health().dropped == 0
    sink.gate.set()
    assert q.flush(30)
    assert sink.out == ["v1", "v4"]
    q.close()


def test_an_item_that_can_never_be_written_is_set_aside() -> None:
    sink = Sink()
    q = WriteQueue(sink)
    for item in ("a", "bad", "b"):
        q.put(item)
    assert q.flush(30)
    assert sink.out == ["a", "b"] and q.rejected == 1 and q.health().rejected == 1
    q.close()


def test_close_reports_what_could_not_be_written() -> None:
    sink = Sink()
    sink.full = True
    q = WriteQueue(sink, retry_s=0.01, retry_max_s=0.02)
    q.put("x")
    q.put("y")
    assert q.close(timeout=0.2) == 2 and sink.out == []


def test_plain_errors() -> None:
    assert plain_error(OSError(errno.EROFS, "x")) == "read-only file system"
    assert plain_error(OSError(errno.ENOSPC, "x")) == "disk full"
    assert plain_error(OSError(errno.EBADF, "Bad file descriptor")) == "bad file descriptor"
