"""core.mailbox.LatestSlot under real threads."""
import threading
import time

from vl_tracking_ros.core.mailbox import LatestSlot


def test_keeps_newest_and_counts_drops():
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.get(0) == 2 and slot.dropped == 1
    assert slot.get(0) is None


def test_get_timeout_and_close():
    slot = LatestSlot()
    t0 = time.monotonic()
    assert slot.get(0.05) is None and time.monotonic() - t0 >= 0.045
    result = []
    th = threading.Thread(target=lambda: result.append(slot.get(None)))
    th.start()
    time.sleep(0.02)
    slot.close()
    th.join(2.0)
    assert not th.is_alive() and result == [None]


def test_fast_producer_slow_consumer_never_backlogs():
    slot = LatestSlot()
    n = 2000
    got = []
    done = threading.Event()

    def consumer():
        while not done.is_set() or slot.peek_pending():
            item = slot.get(0.05)
            if item is not None:
                got.append(item)
                time.sleep(0.001)   # slow "inference"

    th = threading.Thread(target=consumer)
    th.start()
    for i in range(n):
        slot.put(i)
    done.set()
    th.join(5.0)
    assert not th.is_alive()
    assert got == sorted(got) and len(set(got)) == len(got)   # in order, never twice
    assert got[-1] == n - 1                                      # the newest always arrives
    assert len(got) + slot.dropped == n                          # nothing unaccounted
    assert slot.put_count == n and slot.get_count == len(got)


def test_many_producers():
    slot = LatestSlot()
    threads = [threading.Thread(target=lambda k=k: [slot.put((k, i)) for i in range(500)]) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert slot.get(0) is not None and slot.dropped == 4 * 500 - 1
