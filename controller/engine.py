"""The run engine: executes a plan's messages against device roles, journaling everything.

Its own state machine (pytransitions) makes the run's life explicit::

    idle → running ⇄ paused → completed | aborted | faulted

On a fault or an abort, every positioner that may be moving is sent its stop before the run ends, and
the final state is written durably. A plan may be replayed from a journal: recorded responses are fed
back without touching hardware, then the run continues live (``resume``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

from transitions import Machine

from controller.devices import DeviceSet
from controller.errors import PreflightError, RunAborted, describe_error
from controller.interlocks import SafetyEnvelope
from controller.journal import Journal
from controller.messages import (
    AxisReading,
    Beam,
    Checkpoint,
    ConfigureDosimeter,
    CouchReading,
    Dwell,
    HoldIntegration,
    Home,
    LoadCouch,
    Message,
    MoveCouch,
    MoveTo,
    ReadAxis,
    ReadCouch,
    ReadDosimeter,
    ReadEnvironment,
    ReadTracker,
    ResetIntegration,
    StartIntegration,
    ZeroDosimeter,
    from_record,
    message_to_record,
    to_record,
)
from controller.progress import describe
from drivers.clock import Clock
from drivers.environment import EnvironmentReading
from drivers.roles.couch import CouchSetpoint
from drivers.roles.dosimeter import DosimeterReading
from drivers.roles.tracker import ToolPose, TrackerFrame

Plan = Generator[Message, Any, Any]
ProgressCallback = Callable[[int, str], None]

STATES = ["idle", "running", "paused", "completed", "aborted", "faulted"]
TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "start", "source": "idle", "dest": "running"},
    {"trigger": "pause", "source": "running", "dest": "paused"},
    {"trigger": "unpause", "source": "paused", "dest": "running"},
    {"trigger": "complete", "source": "running", "dest": "completed"},
    {"trigger": "abort", "source": ["running", "paused"], "dest": "aborted"},
    {"trigger": "fault", "source": ["idle", "running", "paused"], "dest": "faulted"},
]


class ReplayMismatch(PreflightError):
    """The plan yielded a different message than the journal recorded: resuming would be unsafe."""


class RunEngine:
    # Trigger methods and the state attribute are attached by the transitions Machine.
    state: str
    start: Callable[[], bool]
    pause: Callable[[], bool]
    unpause: Callable[[], bool]
    complete: Callable[[], bool]
    abort: Callable[[], bool]
    fault: Callable[[], bool]

    def __init__(
        self,
        devices: DeviceSet,
        clock: Clock,
        journal: Journal,
        envelope: SafetyEnvelope,
    ) -> None:
        self.devices = devices
        self.clock = clock
        self.journal = journal
        self.envelope = envelope
        self._pause_requested = threading.Event()
        self._resume_requested = threading.Event()
        self._abort_requested = threading.Event()
        #: Whether this run ever asked for the beam: only then does a safe stop switch it off (on a real
        #: rig that is a prompt to the operator, which a run that never used the beam must not raise).
        self._beam_requested = False
        self.machine = Machine(
            model=self,
            states=STATES,
            transitions=TRANSITIONS,
            initial="idle",
            ignore_invalid_triggers=False,
            after_state_change=self._journal_state,
        )
        self._dispatch: dict[type, Callable[[Any], Any]] = {
            Home: self._home,
            MoveTo: self._move_to,
            ReadAxis: self._read_axis,
            Dwell: self._dwell,
            Checkpoint: self._checkpoint,
            MoveCouch: self._move_couch,
            ReadCouch: self._read_couch,
            ConfigureDosimeter: lambda m: self.devices.dosimeters[m.device].configure(m.settings),
            ZeroDosimeter: lambda m: self.devices.dosimeters[m.device].zero(),
            StartIntegration: lambda m: self.devices.dosimeters[m.device].start_integration(),
            HoldIntegration: lambda m: self.devices.dosimeters[m.device].hold(),
            ResetIntegration: lambda m: self.devices.dosimeters[m.device].reset(),
            ReadDosimeter: lambda m: self.devices.dosimeters[m.device].read(),
            ReadEnvironment: lambda m: self.devices.environment[m.device].read(),
            ReadTracker: lambda m: self.devices.trackers[m.device].read_frame(),
            LoadCouch: lambda m: self.devices.operator.load_couch(m.device, m.payload_kg, m.description),
            Beam: self._beam,
        }

    # -- control from another thread (console, interlock monitor) ------------------------------
    def request_pause(self) -> None:
        self._pause_requested.set()

    def request_resume(self) -> None:
        self._resume_requested.set()

    def request_abort(self) -> None:
        self._abort_requested.set()
        self._resume_requested.set()

    # -- execution -----------------------------------------------------------------------------
    def run(
        self,
        plan: Plan,
        *,
        replay: Sequence[tuple[dict[str, Any], Any]] = (),
        on_progress: ProgressCallback | None = None,
        before_live: Callable[[], None] | None = None,
    ) -> Any:
        """Drive ``plan`` to its end and return its value (the sequence's raw data).

        ``replay`` holds (message record, response) pairs from an earlier journal: they are checked
        against what the plan yields and answered from the journal; ``before_live`` runs once when the
        plan reaches its first live message (re-home after a resume).
        """
        self.start()
        index = 0
        restore: dict[tuple[str, ...], Message] = {}
        try:
            message = next(plan)
            while True:
                if index < len(replay):
                    response = self._replayed(index, message, replay[index])
                    key = _setting_key(message)
                    if key is not None:
                        restore.pop(key, None)
                        restore[key] = message  # re-inserted: restoring keeps the original order
                else:
                    if index == len(replay) and replay:
                        self._go_live(before_live, list(restore.values()))
                    response = self._execute(index, message)
                if on_progress is not None:
                    on_progress(index, describe(message))  # e.g. "MoveTo phantom_x 150 mm"
                index += 1
                message = plan.send(response)
        except StopIteration as finished:
            self.complete()
            return finished.value
        except (KeyboardInterrupt, RunAborted) as err:
            self._stop_everything(f"abort: {err or 'operator interrupt'}")
            self.abort()
            raise RunAborted(str(err) or "operator interrupt") from err
        except BaseException as err:
            self.journal.append("fault", durable=True, index=index, error=describe_error(err))
            self._stop_everything(f"fault: {type(err).__name__}")
            self.fault()
            raise
        finally:
            plan.close()

    def _execute(self, index: int, message: Message) -> Any:
        if self._abort_requested.is_set():
            raise RunAborted("abort requested")
        self.envelope.check(message)
        self.journal.append("msg", index=index, message=message_to_record(message))
        try:
            response = self._dispatch[type(message)](message)
        except Exception as err:
            # A transport names its port's first device; a chain shares a port. Name the one really used.
            device = getattr(message, "device", None)
            if isinstance(device, str) and device and not str(err).startswith(f"{device}:"):
                err.add_note(f"rig device {device!r}, {type(message).__name__}")
            raise
        if response is not None:
            self.journal.append("reading", index=index, reading=to_record(response))
        return response

    def _go_live(self, before_live: Callable[[], None] | None, settings: list[Message]) -> None:
        """After a replay: re-reference (hook), then make again the settings the replayed part made."""
        if before_live is not None:
            before_live()
        for message in settings:
            self.envelope.check(message)
            self.journal.append("restore", message=message_to_record(message))
            self._dispatch[type(message)](message)

    def _replayed(self, index: int, message: Message, recorded: tuple[dict[str, Any], Any]) -> Any:
        record, response = recorded
        if message_to_record(message) != record:
            raise ReplayMismatch(
                f"message {index}: plan yields {message_to_record(message)} but the journal has {record}"
            )
        self.journal.append("replayed", index=index, message=record)
        return response

    # -- handlers ------------------------------------------------------------------------------
    def _home(self, message: Home) -> None:
        if message.device in self.devices.couches:
            self.devices.couches[message.device].home()
        else:
            self.devices.positioners[message.device].home()

    def _move_to(self, message: MoveTo) -> None:
        self.devices.positioners[message.device].move_to(message.target_mm)

    def _read_axis(self, message: ReadAxis) -> AxisReading:
        axis = self.devices.positioners[message.device]
        return AxisReading(message.device, axis.position_mm(), axis.encoder_position_mm(), self.clock.now())

    def _move_couch(self, message: MoveCouch) -> None:
        self.devices.couches[message.device].move_to(message.setpoint)

    def _read_couch(self, message: ReadCouch) -> CouchReading:
        couch = self.devices.couches[message.device]
        return CouchReading(message.device, couch.read_setpoint(), self.clock.now())

    def _beam(self, message: Beam) -> None:
        self._beam_requested = True
        if message.on:
            self.devices.beam.beam_on(message.dose_rate_gy_per_min)
        else:
            self.devices.beam.beam_off()

    def _dwell(self, message: Dwell) -> None:
        self.clock.sleep(message.seconds)

    def _checkpoint(self, message: Checkpoint) -> None:
        if self._pause_requested.is_set():
            self._pause_requested.clear()
            self.pause()
            self._resume_requested.wait()
            self._resume_requested.clear()
            if self._abort_requested.is_set():
                raise RunAborted("abort requested while paused")
            self.unpause()

    # -- safe state ----------------------------------------------------------------------------
    def _stop_everything(self, reason: str) -> None:
        """Stop every device that may be moving, and the beam if the run used it; record each; never raise."""
        for name, device in self.devices.moving_devices():
            try:
                device.stop()
                self.journal.append("safe_stop", device=name, reason=reason, ok=True, state=device.state)
            except Exception as err:
                self.journal.append("safe_stop", device=name, reason=reason, ok=False, error=str(err))
        if self._beam_requested:
            try:
                self.devices.beam.beam_off()
                self.journal.append("safe_stop", device="beam", reason=reason, ok=True)
            except Exception as err:
                self.journal.append("safe_stop", device="beam", reason=reason, ok=False, error=str(err))
        self.journal.sync()

    def _journal_state(self) -> None:
        self.journal.append("state", durable=True, state=self.state)


def _setting_key(message: Message) -> tuple[str, ...] | None:
    """Messages that leave a device in a state later messages rely on; the newest per key wins."""
    if isinstance(message, ConfigureDosimeter | ZeroDosimeter | LoadCouch):
        return (type(message).__name__, message.device)
    if isinstance(message, Beam):
        return ("Beam",)
    return None


def reading_from_record(record: Any) -> Any:
    return from_record(record)


def dry_run(plan: Plan, envelope: SafetyEnvelope) -> list[Message]:
    """Walk a plan without hardware, answering reads with nominal values; check every move.

    Raises ``PreflightError`` naming the first invalid step, before anything has been sent.
    """
    messages: list[Message] = []
    nominal: dict[str, float] = {}
    nominal_couch: dict[str, CouchSetpoint] = {}
    response: Any = None
    try:
        message = plan.send(None)
        while True:
            try:
                envelope.check(message)
            except Exception as err:
                raise PreflightError(f"step {len(messages)} ({_brief(message)}) is invalid: {err}") from err
            messages.append(message)
            response = None
            if isinstance(message, MoveTo):
                nominal[message.device] = message.target_mm
            elif isinstance(message, Home):
                limits = envelope.limits(message.device)
                nominal[message.device] = limits.low_mm if limits else 0.0
            elif isinstance(message, ReadAxis):
                value = nominal.get(message.device, 0.0)
                response = AxisReading(message.device, value, value, 0.0)
            elif isinstance(message, MoveCouch):
                nominal_couch[message.device] = message.setpoint
            elif isinstance(message, ReadCouch):
                response = CouchReading(
                    message.device, nominal_couch.get(message.device, CouchSetpoint()), 0.0
                )
            elif isinstance(message, ReadDosimeter):
                response = DosimeterReading(value=0.0, unit="C", clock_s=0.0)
            elif isinstance(message, ReadEnvironment):
                response = EnvironmentReading(20.0, 101.325, "dry run", 0.0)
            elif isinstance(message, ReadTracker):
                response = dry_tracker_frame(message.device)
            message = plan.send(response)
    except StopIteration:
        return messages
    finally:
        plan.close()
        envelope.reset_path_memory()


def _brief(message: Message) -> str:
    """A message as an engineer would say it (a couch pose by its non-zero IEC parameters)."""
    if isinstance(message, MoveCouch):
        moved = {k: v for k, v in message.setpoint.as_dict().items() if v != 0.0}
        pose = ", ".join(f"{k}={v:g}" for k, v in moved.items()) or "home pose"
        return f"MoveCouch {message.device} to {pose}"
    if isinstance(message, MoveTo):
        return f"MoveTo {message.device} {message.target_mm:g} mm"
    return str(message)


def dry_tracker_frame(device: str) -> TrackerFrame:
    """A dry-run stand-in: every tool seen, at the tracker origin (plans must not branch on its values)."""
    pose = ToolPose("dry-run", "ok", (1.0, 0.0, 0.0, 0.0), (0.0, 0.0, 0.0), 0.0, 0)
    return TrackerFrame(device, (pose,), 0.0)
