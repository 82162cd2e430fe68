"""The run engine: executes a plan's messages against device roles, journaling everything.

Its own state machine (pytransitions) makes the run's life explicit::

    idle → running ⇄ paused → completed | aborted | faulted

On a fault or an abort, every positioner that may be moving is sent its stop before the run ends, and
the final state is written durably. A plan may be replayed from a journal: recorded responses are fed
back without touching hardware, then the run continues live (``resume``).

A pause (an operator's request or an open interlock) is honoured at the next safe point, between two
messages (a ``Dwell`` is cut short). An integration or beam that is on is held and switched off there, and
the work since the last ``Checkpoint`` is repeated after the pause, so no measurement spans it
(docs/pause.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

from transitions import Machine

from controller.devices import DeviceSet
from controller.errors import PreflightError, RunAborted, describe_error
from controller.heap import old_objects_frozen
from controller.interlocks import SafetyEnvelope
from controller.interlocks_live import Interlock, InterlockMonitor
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
    SwapChambers,
    Together,
    ZeroDosimeter,
    from_record,
    members,
    message_from_record,
    message_to_record,
    to_record,
)
from controller.progress import describe
from controller.run_control import PauseNotice, RunControl
from controller.together import run_together
from drivers.clock import Clock, WallClock
from drivers.environment import EnvironmentReading
from drivers.roles.couch import CouchPositioner, CouchSetpoint
from drivers.roles.dosimeter import DosimeterReading
from drivers.roles.positioner import AxisPositioner
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


#: A pause can cut a dwell at this granularity (rig clock), and a paused run re-reads its interlocks as often.
DWELL_SLICE_S = 0.5
PAUSE_POLL_S = 0.5


#: The message types ``RunEngine._track`` follows; any other message leaves integrations and the beam alone.
_TRACKED = frozenset({Together, StartIntegration, HoldIntegration, ResetIntegration, Beam})


class _Repeat(Exception):
    """Raised at a resumed safe point: the work since the last checkpoint must be done again."""


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
        *,
        interlocks: Sequence[Interlock | tuple[Interlock, float]] = (),
        control: RunControl | None = None,
    ) -> None:
        self.devices = devices
        self.clock = clock
        self.journal = journal
        self.envelope = envelope
        self._pause_requested = threading.Event()
        self._resume_requested = threading.Event()
        self._abort_requested = threading.Event()
        self._wake = threading.Event()  # any request: a paused engine re-checks at once
        #: Set (never cleared) by the first pause or abort request: until then, with no interlock
        #: sources, a safe point has nothing to look at and the message goes straight through.
        self._requested = False
        self._pause_reason = "operator request"
        self.interlocks = InterlockMonitor(interlocks, clock, journal.append)
        self._watching = bool(self.interlocks)  # interlock sources to read at each safe point
        self.control = control
        #: What is on that a pause must hold or switch off, and what a repeat goes back over.
        self._integrating: set[str] = set()
        self._beam_on = False
        self._history: list[tuple[dict[str, Any], Any]] = []
        self._cut_short = False
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
            SwapChambers: lambda m: self.devices.operator.place_chambers(
                m.device, m.other, m.swapped, m.description
            ),
        }

    # -- control from another thread (console, interlock monitor) ------------------------------
    def request_pause(self, reason: str = "operator request") -> None:
        self._pause_reason = reason
        self._pause_requested.set()
        self._requested = True
        self._wake.set()

    def request_resume(self) -> None:
        self._resume_requested.set()
        self._wake.set()

    def request_abort(self) -> None:
        self._abort_requested.set()
        self._requested = True
        self._resume_requested.set()
        self._wake.set()

    def pause_pending(self) -> bool:
        """A pause was asked for and the run has not reached its safe point yet."""
        return self._pause_requested.is_set()

    # -- execution -----------------------------------------------------------------------------
    def run(
        self,
        plan: Plan,
        *,
        replay: Sequence[tuple[dict[str, Any], Any]] = (),
        on_progress: ProgressCallback | None = None,
        before_live: Callable[[], None] | None = None,
        restart: Callable[[], Plan] | None = None,
    ) -> Any:
        """Drive ``plan`` to its end and return its value (the sequence's raw data).

        ``replay`` holds (message record, response) pairs from an earlier journal: they are checked
        against what the plan yields and answered from the journal; ``before_live`` runs once when the
        plan reaches its first live message (re-home after a resume). ``restart`` makes the same plan
        afresh: a pause that interrupted an integration goes back to the last checkpoint with it (without
        one, such a pause ends the run aborted, and ``hilcal resume`` repeats the work). The objects that
        exist before the run are kept out of the collector's full collections while it goes on
        (``controller.heap``).
        """
        with old_objects_frozen():
            return self._run(plan, replay, on_progress, before_live, restart)

    def _run(
        self,
        plan: Plan,
        replay: Sequence[tuple[dict[str, Any], Any]],
        on_progress: ProgressCallback | None,
        before_live: Callable[[], None] | None,
        restart: Callable[[], Plan] | None,
    ) -> Any:
        self.start()
        if self.control is not None:
            self.control.attach(self)
        index = 0
        restore: dict[tuple[str, ...], Message] = {}
        live = False
        try:
            message = next(plan)
            while True:
                record = message_to_record(message)  # once: journal, replay check and history share it
                if index < len(replay) and not live:
                    response = self._replayed(index, message, record, replay[index])
                    for member in members(message):  # a group's settings are restored member by member
                        key = _setting_key(member)
                        if key is not None:
                            restore.pop(key, None)
                            restore[key] = member  # re-inserted: restoring keeps the original order
                    self._track(message)
                else:
                    if not live and replay:
                        self._go_live(before_live, list(restore.values()))
                    live = True
                    try:
                        response = self._live(index, message, record)
                    except _Repeat:
                        plan, message, index = self._repeat_from_checkpoint(plan, restart, index)
                        continue
                self._history.append((record, response))
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
            if self.control is not None:
                self.control.detach(self)

    def _live(self, index: int, message: Message, record: dict[str, Any]) -> Any:
        """One live message at a safe point; a dwell a pause cut short is done again, in full."""
        while True:
            if self._requested or self._watching:
                self._safe_point(index, message)
            response = self._execute(index, message, record)
            if not self._cut_short:
                return response
            self._cut_short = False

    def _execute(self, index: int, message: Message, record: dict[str, Any]) -> Any:
        if self._requested and self._abort_requested.is_set():
            raise RunAborted("abort requested")
        if type(message) is Together:
            return run_together(self, index, message, record)
        self.envelope.check(message)
        self.journal.append("msg", index=index, message=record)
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
        self._track(message)
        return response

    def _track(self, message: Message) -> None:
        """Keep what a pause must hold: open integrations and the beam."""
        if type(message) not in _TRACKED:
            return  # most messages (moves, reads, checkpoints) change neither
        if isinstance(message, Together):
            for member in message.messages:
                self._track(member)
        elif isinstance(message, StartIntegration):
            self._integrating.add(message.device)
        elif isinstance(message, HoldIntegration | ResetIntegration):
            self._integrating.discard(message.device)
        elif isinstance(message, Beam):
            self._beam_on = message.on

    def _go_live(self, before_live: Callable[[], None] | None, settings: list[Message]) -> None:
        """After a replay: re-reference (hook), then make again the settings the replayed part made."""
        if before_live is not None:
            before_live()
        for message in settings:
            self.envelope.check(message)
            self.journal.append("restore", message=message_to_record(message))
            self._dispatch[type(message)](message)

    def _replayed(
        self, index: int, message: Message, record: dict[str, Any], recorded: tuple[dict[str, Any], Any]
    ) -> Any:
        journaled, response = recorded
        if record != journaled:
            raise ReplayMismatch(f"message {index}: plan yields {record} but the journal has {journaled}")
        self.journal.append("replayed", index=index, message=journaled)
        if isinstance(message, Together) and isinstance(response, list):
            return tuple(response)  # a group's responses were journaled as a list
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
        """Sleep in slices so a pause or an interlock can cut it; the end time is exactly start + seconds."""
        if message.seconds <= DWELL_SLICE_S:
            self.clock.sleep(message.seconds)
            return
        end = self.clock.now() + message.seconds
        while (left := end - self.clock.now()) > 0:
            self.clock.sleep(min(DWELL_SLICE_S, left))
            if end - self.clock.now() > 0 and self._pause_wanted():
                self._cut_short = True
                return

    def _checkpoint(self, message: Checkpoint) -> None:
        """A whole piece of work ends here; pauses are honoured at every safe point (``_safe_point``)."""

    # -- pause, interlocks and repeat ------------------------------------------------------------
    def _pause_wanted(self) -> bool:
        return (
            self._pause_requested.is_set()
            or self._abort_requested.is_set()
            or bool(self.interlocks.open_sources())
        )

    def _safe_point(self, index: int, message: Message) -> None:
        """Between two messages: pause here if asked or if an interlock is open; abort if asked."""
        if self._abort_requested.is_set():
            raise RunAborted("abort requested")
        opened = self.interlocks.open_sources()
        operator = self._pause_requested.is_set()
        if not operator and not opened:
            return
        self._pause_requested.clear()
        reasons = ([self._pause_reason] if operator else []) + [f"{n}: {r}" for n, r in opened.items()]
        notice = self._make_safe(index, message, "; ".join(reasons), operator, opened)
        started = self.clock.now()
        self._wait_while_paused(notice)
        paused_s = self.clock.now() - started
        self.unpause()
        self.journal.append(
            "unpause", durable=True, index=index, paused_s=paused_s, repeat_from=notice.repeat_from
        )
        if self.control is not None:
            self.control.resumed(notice, paused_s)
        if notice.repeat_from is not None:
            raise _Repeat()

    def _make_safe(
        self, index: int, message: Message, reason: str, operator: bool, opened: dict[str, str]
    ) -> PauseNotice:
        """Paused: hold open integrations, switch the beam off, check that nothing moves; journal it."""
        self.pause()
        held = tuple(sorted(self._integrating))
        for dosimeter in held:
            self.devices.dosimeters[dosimeter].hold()  # a failure here is a fault: the run stops safe
        self._integrating.clear()
        beam_off = self._beam_on
        if beam_off:
            self.devices.beam.beam_off()
            self._beam_on = False
        motion: dict[str, str] = {}
        movers: list[tuple[str, AxisPositioner | CouchPositioner]] = [
            *self.devices.positioners.items(),
            *self.devices.couches.items(),
        ]
        for name, device in movers:
            moving = device.is_moving()
            if moving:
                device.stop()
            motion[name] = "stopped" if moving else "idle"
        repeat = bool(held) or beam_off or "stopped" in motion.values()
        checkpoint = self._last_checkpoint()
        notice = PauseNotice(
            index=index,
            message=type(message).__name__,
            reason=reason,
            operator=operator,
            interlocks=dict(opened),
            held=held,
            beam_switched_off=beam_off,
            motion=motion,
            repeat_from=checkpoint + 1 if repeat else None,
            clock_s=self.clock.now(),
        )
        self.journal.append(
            "pause",
            durable=True,
            index=index,
            message=notice.message,
            reason=reason,
            source="operator" if operator else "interlock",
            interlocks=notice.interlocks,
            held=list(held),
            beam_switched_off=beam_off,
            motion=motion,
            repeat_from=notice.repeat_from,
        )
        if self.control is not None:
            self.control.paused(self, notice)
        return notice

    def _wait_while_paused(self, notice: PauseNotice) -> None:
        """Until the operator resumes (if they paused) and every interlock is clear; abort ends it."""
        holding = notice.operator
        wall = isinstance(self.clock, WallClock)
        while True:
            if self._abort_requested.is_set():
                raise RunAborted("abort requested while paused")
            if holding and self._resume_requested.is_set():
                self._resume_requested.clear()
                holding = False
            self._pause_requested.clear()  # a repeated request while paused changes nothing
            opened = self.interlocks.open_sources(force=True)
            if not holding and not opened:
                self._resume_requested.clear()
                return
            self._wake.clear()
            if opened and not wall:
                self.clock.sleep(PAUSE_POLL_S)  # simulated time must pass for a source to clear
            else:
                self._wake.wait(PAUSE_POLL_S)

    def _last_checkpoint(self) -> int:
        for position in range(len(self._history) - 1, -1, -1):
            if self._history[position][0].get("type") == "Checkpoint":
                return position
        return -1

    def _repeat_from_checkpoint(
        self, plan: Plan, restart: Callable[[], Plan] | None, index: int
    ) -> tuple[Plan, Message, int]:
        """A fresh plan fed this run's own answers up to the last checkpoint; the work after it is redone."""
        checkpoint = self._last_checkpoint()
        if restart is None:
            raise RunAborted(
                "paused inside timed work and this run cannot repeat it in place; resume the run "
                "(`hilcal resume`) to repeat it from its last checkpoint"
            )
        kept = self._history[: checkpoint + 1]
        if _open_integrations(kept):
            raise RunAborted("paused with an integration open across a checkpoint; it cannot be repeated")
        plan.close()
        fresh = restart()
        message = next(fresh)
        for position, (record, response) in enumerate(kept):
            if message_to_record(message) != record:
                raise ReplayMismatch(
                    f"message {position}: on repeat the plan yields {message_to_record(message)} but the run "
                    f"had {record}"
                )
            message = fresh.send(response)
        del self._history[checkpoint + 1 :]
        self.journal.append("rewind", durable=True, from_index=index, to_index=checkpoint)
        beam = next((r for r, _ in reversed(kept) if r.get("type") == "Beam"), None)
        if beam is not None and beam.get("on"):
            restored = message_from_record(beam)
            assert isinstance(restored, Beam)
            self.journal.append("restore", message=beam)
            self._beam(restored)
            self._beam_on = True
        return fresh, message, checkpoint + 1

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


def _open_integrations(history: Sequence[tuple[dict[str, Any], Any]]) -> set[str]:
    """Dosimeters whose integration a run of messages left running."""
    running: set[str] = set()
    for step, _ in history:
        for record in step.get("messages", ()) if step.get("type") == "Together" else (step,):
            if record.get("type") == "StartIntegration":
                running.add(record["device"])
            elif record.get("type") in ("HoldIntegration", "ResetIntegration"):
                running.discard(record["device"])
    return running


def _setting_key(message: Message) -> tuple[str, ...] | None:
    """Messages that leave a device in a state later messages rely on; the newest per key wins."""
    if isinstance(message, ConfigureDosimeter | ZeroDosimeter | LoadCouch):
        return (type(message).__name__, message.device)
    if isinstance(message, Beam):
        return ("Beam",)
    if isinstance(message, SwapChambers):
        return ("SwapChambers", message.device, message.other)
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
    try:
        message = plan.send(None)
        while True:
            for member in members(message):  # every member of a group is checked before any would start
                try:
                    envelope.check(member)
                except Exception as err:
                    step = f"step {len(messages)} ({_brief(member)})"
                    raise PreflightError(f"{step} is invalid: {err}") from err
            messages.append(message)
            if isinstance(message, Together):
                answers = [_dry_answer(m, envelope, nominal, nominal_couch) for m in message.messages]
                message = plan.send(tuple(answers))
                continue
            response = _dry_answer(message, envelope, nominal, nominal_couch)
            message = plan.send(response)
    except StopIteration:
        return messages
    finally:
        plan.close()
        envelope.reset_path_memory()


def _dry_answer(
    message: Message,
    envelope: SafetyEnvelope,
    nominal: dict[str, float],
    nominal_couch: dict[str, CouchSetpoint],
) -> Any:
    """A dry run's nominal answer to one message, keeping the nominal positions it commanded."""
    response: Any = None
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
        response = CouchReading(message.device, nominal_couch.get(message.device, CouchSetpoint()), 0.0)
    elif isinstance(message, ReadDosimeter):
        response = DosimeterReading(value=0.0, unit="C", clock_s=0.0)
    elif isinstance(message, ReadEnvironment):
        response = EnvironmentReading(20.0, 101.325, "dry run", 0.0)
    elif isinstance(message, ReadTracker):
        response = dry_tracker_frame(message.device)
    return response


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
