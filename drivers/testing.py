"""In-memory device roles with zero delay, for engine tests and the engine-overhead benchmark.

They are not simulators of any protocol (those live in ``simulators/`` behind real transports); they
exist so the run engine's own cost and logic can be measured and tested without any I/O.
"""

from __future__ import annotations

from drivers.errors import IllegalStateError, LimitViolation


class InstantAxis:
    """An ``AxisPositioner`` that arrives at once; optional fixed backlash and a fault on a chosen move."""

    def __init__(
        self,
        name: str = "axis",
        travel_mm: tuple[float, float] = (0.0, 300.0),
        backlash_mm: float = 0.0,
        fail_on_move: int | None = None,
    ) -> None:
        self.name = name
        self._travel = travel_mm
        self._backlash = backlash_mm
        self._fail_on_move = fail_on_move
        self._position = 0.0
        self._carriage = 0.0
        self._state = "disconnected"
        self.moves = 0
        self.stops = 0
        self.commands: list[tuple[str, float | None]] = []

    @property
    def state(self) -> str:
        return self._state

    def connect(self) -> None:
        self._state = "connected"

    def close(self) -> None:
        self._state = "disconnected"

    def travel_mm(self) -> tuple[float, float]:
        return self._travel

    def home(self, timeout_s: float = 120.0) -> None:
        self.commands.append(("home", None))
        self._position = self._carriage = self._travel[0]
        self._state = "ready"

    def start_move_to(self, target_mm: float) -> None:
        if self._state != "ready":
            raise IllegalStateError(self.name, "move", self._state)
        low, high = self._travel
        if not low <= target_mm <= high:
            raise LimitViolation(self.name, "target", target_mm, low, high, "mm")
        self.moves += 1
        if self._fail_on_move is not None and self.moves == self._fail_on_move:
            self._state = "fault"
            raise RuntimeError(f"{self.name}: injected fault on move {self.moves}")
        self.commands.append(("move", target_mm))
        half = self._backlash / 2
        if target_mm > self._position:
            self._carriage = target_mm - half
        elif target_mm < self._position:
            self._carriage = target_mm + half
        self._position = target_mm

    def is_moving(self) -> bool:
        return False

    def wait_until_idle(self, timeout_s: float = 120.0) -> None:
        return None

    def move_to(self, target_mm: float, timeout_s: float = 120.0) -> None:
        self.start_move_to(target_mm)

    def position_mm(self) -> float:
        return self._position

    def encoder_position_mm(self) -> float | None:
        return self._carriage

    def stop(self) -> None:
        self.stops += 1
        self.commands.append(("stop", None))
        if self._state == "moving":
            self._state = "ready"

    def emergency_stop(self) -> None:
        self.stop()
        self._state = "estopped"
