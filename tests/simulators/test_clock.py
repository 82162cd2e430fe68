"""Virtual and real-time clocks: both satisfy the structural Clock protocol; virtual time is exact."""

from __future__ import annotations

import threading

import pytest

from simulators.clock import Clock, RealTimeClock, VirtualClock


@pytest.mark.parametrize("make", [VirtualClock, RealTimeClock])
def test_both_clocks_satisfy_the_protocol(make: type) -> None:
    assert isinstance(make(), Clock)


def test_virtual_sleep_advances_at_once() -> None:
    clock = VirtualClock(start=5.0)
    clock.sleep(2.5)
    assert clock.now() == 7.5
    clock.sleep(0)
    clock.sleep(-1.0)  # a negative wait (deadline already passed) is a no-op, as for a real sleep
    assert clock.now() == 7.5


def test_virtual_advance_to_never_goes_backwards() -> None:
    clock = VirtualClock()
    clock.advance_to(3.0)
    clock.advance_to(1.0)
    assert clock.now() == 3.0


def test_virtual_clock_is_thread_safe() -> None:
    clock = VirtualClock()

    def sleeper() -> None:
        for _ in range(1000):
            clock.sleep(0.001)

    threads = [threading.Thread(target=sleeper) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.now() == pytest.approx(4.0)


def test_real_time_clock_starts_near_zero_and_is_monotonic() -> None:
    clock = RealTimeClock()
    a = clock.now()
    clock.sleep(0)  # must not block
    b = clock.now()
    assert 0.0 <= a <= b < 1.0
