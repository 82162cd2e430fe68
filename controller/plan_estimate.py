"""How long a plan takes on the rig clock, from each device's kinematics and the plan's own waits.

The model follows what the drivers really do, because that is what the clock sees: a Zaber axis sends its
move and polls its status every ``poll_interval_s`` until the stage reports idle (so a move costs its
trapezoidal profile time rounded *up* to whole polls); a PI hexapod sleeps one poll before each status
query and reports on target only ``settle`` after the motion ends; a UNIDOS zero is polled until it
finishes; an NDI tracker asks again every poll until a newer frame exists; a ``Dwell`` is exactly its
seconds. Beam and load requests cost nothing here: on a real rig they wait for a person.

Kinematic numbers come from the rig file: a simulated rig's ``simulation`` section (the world the run
will meet), else the driver parameters, else the defaults below, each reported as an assumption.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from controller.config import DeviceConfig, RigConfig
from controller.messages import Dwell, Home, Message, MoveCouch, MoveTo, ReadTracker, Together, ZeroDosimeter
from drivers.ndi.tracker import INIT_SETTLE_S
from drivers.pi_gcs.iec import HexapodMounting, setpoint_to_hexapod
from drivers.registry import DRIVERS
from drivers.roles.couch import CouchSetpoint

SIM_PREFIX = "sim:"
_EPS = 1e-9  # virtual-clock sums of polls are not exact; a profile ending on a poll must not cost one more

Category = Literal["connect", "homing", "motion", "dwell", "tracker", "zero", "instant"]

#: Defaults when neither the simulation section nor the driver parameters give a number. They are the
#: simulators' defaults (docs/simulators.md), which follow the vendors' documented factory behaviour;
#: on a real rig every one of them is an assumption and is reported as such.
ZABER_DEFAULTS: Mapping[str, float] = {
    "max_speed_mm_s": 20.0,
    "accel_mm_s2": 100.0,
    "homing_speed_mm_s": 10.0,
    "settle_s": 0.0,
}
HEXAPOD_DEFAULTS: Mapping[str, float] = {
    "velocity_mm_s": 10.0,
    "angular_velocity_deg_s": 5.0,
    "accel_mm_s2": 50.0,
    "angular_accel_deg_s2": 20.0,
    "settle_s": 0.1,
    "reference_time_s": 15.0,
}
UNIDOS_ZERO_S = 82.0  # NUS total of a UNIDOS zero (docs/drivers/ptw-unidos.md transcript: 82000 ms)
TRACKER_FRAME_RATE_HZ = 60.0
HOME_BACKOFF_MM = 0.5  # a stage starting at the datum first backs off, to approach it from above


class TimingInput(BaseModel):
    """One number the estimate uses, where it came from, and whether it is an assumption."""

    model_config = ConfigDict(frozen=True)

    device: str
    quantity: str
    value: float
    unit: str
    source: str
    assumed: bool


def trapezoid_s(distance: float, speed: float, accel: float) -> float:
    """Rest-to-rest time over ``distance`` at top ``speed`` and ``accel`` (a triangle if too short)."""
    if distance <= 0.0:
        return 0.0
    if distance >= speed * speed / accel:
        return distance / speed + speed / accel
    return 2.0 * math.sqrt(distance / accel)


def polled_s(busy_s: float, poll_s: float, *, sleep_first: bool) -> float:
    """Clock time a driver spends waiting out ``busy_s`` when it looks every ``poll_s``.

    ``sleep_first``: the driver sleeps before its first look (PI GCS), so even an instant move costs one
    poll; otherwise it looks at once (Zaber, UNIDOS) and an instant action costs nothing.
    """
    ratio = busy_s / poll_s
    polls = max(math.ceil(ratio - _EPS), 0)
    # A profile ending exactly on a poll is a tie that the clock's rounding breaks either way: half a poll.
    tie = 0.5 if busy_s > 0 and abs(ratio - round(ratio)) < 1e-6 else 0.0
    return max(polls + tie, 1 if sleep_first else 0) * poll_s


class _Inputs:
    """Collects the numbers a device model uses, with their source."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.used: list[TimingInput] = []

    def take(self, quantity: str, unit: str, *found: tuple[Any, str], default: float) -> float:
        for value, source in found:
            if value is not None:
                self.used.append(TimingInput(
                    device=self.device, quantity=quantity, value=float(value), unit=unit, source=source,
                    assumed=False,
                ))  # fmt: skip
                return float(value)
        self.used.append(TimingInput(
            device=self.device, quantity=quantity, value=default, unit=unit, source="assumed default",
            assumed=True,
        ))  # fmt: skip
        return default


@dataclass
class _Stage:
    speed: float
    accel: float
    homing_speed: float
    settle: float
    home_mm: float
    position_mm: float
    backoff_mm: float
    poll: float

    def home(self) -> float:
        legs = []
        if self.position_mm < self.home_mm + self.backoff_mm:
            legs.append(self.home_mm + self.backoff_mm - self.position_mm)
            self.position_mm = self.home_mm + self.backoff_mm
        legs.append(self.position_mm - self.home_mm)
        busy = sum(trapezoid_s(d, self.homing_speed, self.accel) for d in legs)
        self.position_mm = self.home_mm
        return polled_s(busy + (self.settle if busy > 0 else 0.0), self.poll, sleep_first=False)

    def move(self, target_mm: float) -> float:
        busy = trapezoid_s(abs(target_mm - self.position_mm), self.speed, self.accel)
        self.position_mm = target_mm
        return polled_s(busy + (self.settle if busy > 0 else 0.0), self.poll, sleep_first=False)


@dataclass
class _Hexapod:
    velocity: float
    angular_velocity: float
    accel: float
    angular_accel: float
    settle: float
    reference_s: float
    poll: float
    mounting: HexapodMounting
    pose: np.ndarray = field(default_factory=lambda: np.zeros(6))

    def home(self) -> float:
        self.pose = np.zeros(6)  # FRF ends at the hexapod's zero pose
        return polled_s(self.reference_s, self.poll, sleep_first=True)

    def move(self, setpoint: CouchSetpoint) -> float:
        target = np.array(list(setpoint_to_hexapod(setpoint, self.mounting).values()), dtype=float)
        delta = target - self.pose
        self.pose = target
        lin, ang = float(np.linalg.norm(delta[:3])), float(np.linalg.norm(delta[3:]))
        parts = [(v, a, d) for v, a, d in ((self.velocity, self.accel, lin),
                 (self.angular_velocity, self.angular_accel, ang)) if d > 1e-9]  # fmt: skip
        if not parts:
            return polled_s(0.0, self.poll, sleep_first=True)
        # The controller moves along a straight line in X..W: the slower of the linear and angular limits
        # sets the path speed and acceleration (path parameter s from 0 to 1).
        speed = min(v / d for v, _, d in parts)
        accel = min(a / d for _, a, d in parts)
        return polled_s(trapezoid_s(1.0, speed, accel) + self.settle, self.poll, sleep_first=True)


@dataclass
class _Tracker:
    rate_hz: float
    poll: float
    last_frame: int | None = None

    def read(self, now: float) -> float:
        waited = 0.0
        while True:
            frame = math.floor((now + waited) * self.rate_hz + _EPS)
            if frame != self.last_frame:
                self.last_frame = frame
                return waited
            waited += self.poll


@dataclass
class _Zero:
    duration_s: float
    poll: float

    def zero(self) -> float:
        return polled_s(self.duration_s, self.poll, sleep_first=False)


def _poll(inputs: _Inputs, params: BaseModel | None, default: float) -> float:
    """The driver's status poll period: the granularity of every wait it does on the clock."""
    given = getattr(params, "poll_interval_s", None)
    return inputs.take("poll_interval_s", "s", (given, "driver params"), default=default)


def _lookup(tree: Any, *keys: Any) -> Any:
    """``tree[k1][k2]…`` through dicts (YAML int keys or their strings), or None."""
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key, tree.get(str(key)))
    return tree


def _driver_params(entry: DeviceConfig) -> BaseModel | None:
    spec = DRIVERS.get(entry.driver)
    if spec is None:
        return None
    try:
        return spec.params_model.model_validate(entry.params)
    except ValidationError:
        return None


class PlanClock:
    """Walks a plan's messages on a model of the rig clock; ``step`` returns each message's seconds."""

    def __init__(self, config: RigConfig, devices: Collection[str]) -> None:
        self.now = 0.0
        self.inputs: list[TimingInput] = []
        self._stages: dict[str, _Stage] = {}
        self._hexapods: dict[str, _Hexapod] = {}
        self._trackers: dict[str, _Tracker] = {}
        self._zeros: dict[str, _Zero] = {}
        self._sim = config.simulation or {}
        self._simulated = config.simulated
        for name in sorted(devices):
            entry = config.devices.get(name)
            if entry is None:
                continue
            params = _driver_params(entry)
            inputs = _Inputs(name)
            if entry.driver == "zaber-ascii":
                self._stages[name] = self._stage(name, entry, params, inputs)
            elif entry.driver == "pi-gcs-hexapod":
                self._hexapods[name] = self._hexapod(entry, params, inputs)
            elif entry.driver == "ndi-combined-api":
                self._trackers[name] = self._tracker(entry, params, inputs)
            elif entry.driver == "ptw-unidos":
                self._zeros[name] = self._unidos(entry, params, inputs)
            self.inputs += inputs.used

    def _sim_name(self, entry: DeviceConfig) -> str | None:
        if self._simulated and entry.port.startswith(SIM_PREFIX):
            return entry.port[len(SIM_PREFIX) :]
        return None

    def _stage(self, name: str, entry: DeviceConfig, params: BaseModel | None, inputs: _Inputs) -> _Stage:
        chain = self._sim_name(entry)
        stage: dict[str, Any] = {}
        address, axis = entry.params.get("address", 1), entry.params.get("axis", 1)
        axes = _lookup(self._sim, "zaber_chains", chain, "devices", address, "axes") if chain else None
        if isinstance(axes, list) and 0 < axis <= len(axes):
            stage = _lookup(self._sim, "stages", axes[axis - 1]) or {}
        where = f"simulation.stages.{axes[axis - 1]}" if stage and isinstance(axes, list) else ""
        simulated = bool(chain) and isinstance(axes, list)

        def number(key: str, unit: str) -> float:
            # Inside the simulation an absent field is the simulator's default, not an assumption.
            found = [(stage.get(key), f"{where}.{key}")]
            if simulated:
                found.append((ZABER_DEFAULTS[key], "simulator default"))
            return inputs.take(key, unit, *found, default=ZABER_DEFAULTS[key])

        speed = number("max_speed_mm_s", "mm/s")
        accel = number("accel_mm_s2", "mm/s²")
        homing = number("homing_speed_mm_s", "mm/s")
        settle = number("settle_s", "s")
        poll = _poll(inputs, params, 0.05)
        travel = stage.get("travel_mm") or entry.soft_limits_mm or (0.0, 300.0)
        low, high = float(travel[0]), float(travel[1])
        power_on = stage.get("power_on_position_mm")
        start = inputs.take(
            "position before homing", "mm",
            (power_on, f"{where}.power_on_position_mm"),
            ((low + high) / 2 if simulated else None, "simulator: mid-travel at power-up"),
            default=(low + high) / 2,
        )  # fmt: skip
        backoff = max(HOME_BACKOFF_MM, 2.0 * float(stage.get("backlash_mm", 0.0)))
        return _Stage(speed, accel, homing, settle, low, start, backoff, poll)

    def _hexapod(self, entry: DeviceConfig, params: BaseModel | None, inputs: _Inputs) -> _Hexapod:
        controller = self._sim_name(entry)
        name = _lookup(self._sim, "pi_gcs_controllers", controller, "hexapod") if controller else None
        config: dict[str, Any] = (_lookup(self._sim, "hexapods", name) or {}) if name else {}
        where = f"simulation.hexapods.{name}"

        def number(key: str, unit: str, *first: tuple[Any, str]) -> float:
            found = [*first, (config.get(key), f"{where}.{key}")]
            if name is not None:
                found.append((HEXAPOD_DEFAULTS[key], "simulator default"))
            return inputs.take(key, unit, *found, default=HEXAPOD_DEFAULTS[key])

        # The driver sends its velocity with VLS at connect: it wins over the controller's own setting.
        sent = getattr(params, "velocity_mm_s", None)
        velocity = number("velocity_mm_s", "mm/s", (sent, "driver params (VLS)"))
        mounting = getattr(params, "mounting", None)
        return _Hexapod(
            velocity=velocity,
            angular_velocity=number("angular_velocity_deg_s", "deg/s"),
            accel=number("accel_mm_s2", "mm/s²"),
            angular_accel=number("angular_accel_deg_s2", "deg/s²"),
            settle=number("settle_s", "s"),
            reference_s=number("reference_time_s", "s"),
            poll=_poll(inputs, params, 0.05),
            mounting=mounting if isinstance(mounting, HexapodMounting) else HexapodMounting(),
        )

    def _tracker(self, entry: DeviceConfig, params: BaseModel | None, inputs: _Inputs) -> _Tracker:
        sensor = self._sim_name(entry)
        tracker = _lookup(self._sim, "ndi_sensors", sensor, "tracker") if sensor else None
        rate = _lookup(self._sim, "trackers", tracker, "frame_rate_hz") if tracker else None
        found = [(rate, f"simulation.trackers.{tracker}.frame_rate_hz")]
        if tracker is not None:
            found.append((TRACKER_FRAME_RATE_HZ, "simulator default"))
        return _Tracker(
            rate_hz=inputs.take("frame_rate_hz", "Hz", *found, default=TRACKER_FRAME_RATE_HZ),
            poll=_poll(inputs, params, 0.02),
        )

    def _unidos(self, entry: DeviceConfig, params: BaseModel | None, inputs: _Inputs) -> _Zero:
        name = self._sim_name(entry)
        config = _lookup(self._sim, "unidos", name) if name else None
        found = [(_lookup(config, "zero_duration_s"), f"simulation.unidos.{name}.zero_duration_s")]
        if isinstance(config, dict):
            found.append((UNIDOS_ZERO_S, "simulator default"))
        return _Zero(
            duration_s=inputs.take("zero duration", "s", *found, default=UNIDOS_ZERO_S),
            poll=_poll(inputs, params, 0.5),
        )

    def connect(self) -> float:
        """What connecting costs on the clock: each tracker's initialisation settle."""
        seconds = INIT_SETTLE_S * len(self._trackers)
        for tracker in self._trackers.values():
            tracker.last_frame = None
        self.now += seconds
        return seconds

    def step(self, message: Message) -> tuple[float, Category]:
        seconds, category = self._seconds(message)
        self.now += seconds
        return seconds, category

    def _seconds(self, message: Message) -> tuple[float, Category]:
        if isinstance(message, Together):
            # The members run at once, each on its own device: the group lasts as long as its longest.
            timed = [self._seconds(member) for member in message.messages]
            return max(timed, key=lambda t: t[0], default=(0.0, "instant"))
        if isinstance(message, Dwell):
            return message.seconds, "dwell"
        if isinstance(message, Home):
            if message.device in self._stages:
                return self._stages[message.device].home(), "homing"
            if message.device in self._hexapods:
                return self._hexapods[message.device].home(), "homing"
        if isinstance(message, MoveTo) and message.device in self._stages:
            return self._stages[message.device].move(message.target_mm), "motion"
        if isinstance(message, MoveCouch) and message.device in self._hexapods:
            return self._hexapods[message.device].move(message.setpoint), "motion"
        if isinstance(message, ReadTracker) and message.device in self._trackers:
            return self._trackers[message.device].read(self.now), "tracker"
        if isinstance(message, ZeroDosimeter) and message.device in self._zeros:
            return self._zeros[message.device].zero(), "zero"
        return 0.0, "instant"
