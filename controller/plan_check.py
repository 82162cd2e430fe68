"""A sequence's whole plan checked against the rig file, before any device is opened.

Bad parameters used to surface only after every device had connected (a tracker started, a hexapod
velocity sent, an electrometer's write token taken), and then as a run that faulted. Here they are bad
input: every device a plan names must exist in the rig with the right role (all missing ones reported at
once), every tool it reads must be loaded on the tracker, every move must lie inside what the rig file
allows (soft limits, couch limits, keep-out volumes) and every electrometer setting inside what the
instrument and the rig's chamber rating allow. The result says which devices the plan uses, so a run
opens only those.

Device-reported travel is known only after connect: a positioner with no soft limits in the rig file is
walked there (``engine.dry_run``), still before any motion.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from pydantic import BaseModel, ValidationError

from controller.collision import CollisionGuard
from controller.config import CalibrationCertificate, RigConfig, TrackerRegistrationConfig
from controller.engine import dry_run
from controller.errors import ConfigError, HilcalError, PreflightError, describe_error
from controller.interlocks import AxisLimits, SafetyEnvelope, straight_path_check
from controller.messages import ConfigureDosimeter, Message, Together, members
from drivers.errors import HilcalDriverError
from drivers.registry import DRIVERS
from drivers.roles.couch import COUCH_AXES
from geometry import AxisMounting
from sequences.base import DeviceNeed, Sequence

AT_CONNECT = "device travel, checked at connect"


class LimitsAtConnect(Exception):
    """The plan needs an axis's travel that only the connected device can report."""

    def __init__(self, device: str) -> None:
        super().__init__(device)
        self.device = device


@dataclass(frozen=True)
class PlanCheck:
    """What the check found: the devices the plan uses, and how far the rig file alone could check it."""

    devices: frozenset[str]
    steps: int | None = None  # messages walked; None when the walk needs device-reported travel
    deferred: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)  # e.g. an expired certificate, site rule "warn"


class RigFileContext:
    """A ``SequenceContext`` that knows only the rig file."""

    def __init__(self, config: RigConfig) -> None:
        self._config = config

    def axis_limits(self, device: str) -> AxisLimits:
        entry = self._config.devices.get(device)
        if entry is None or entry.soft_limits_mm is None:
            raise LimitsAtConnect(device)
        return AxisLimits(entry.soft_limits_mm[0], entry.soft_limits_mm[1], "rig soft limits")

    def axis_mounting(self, device: str) -> AxisMounting | None:
        entry = self._config.devices.get(device)
        return None if entry is None or entry.mounting is None else entry.mounting.to_mounting(device)

    def tracker_registration(self) -> TrackerRegistrationConfig | None:
        return self._config.tracker_registration

    def certificate(self, device: str) -> CalibrationCertificate | None:
        """The rig file's calibration certificate of ``device`` (None: it states none)."""
        entry = self._config.devices.get(device)
        return None if entry is None else entry.certificate


def check_plan(
    config: RigConfig,
    sequence: Sequence[BaseModel],
    params: BaseModel,
    *,
    source: str,
    extra_devices: Mapping[str, str] | None = None,
    today: date | None = None,
) -> PlanCheck:
    """Raise ``ConfigError`` (every problem, each naming the parameter and value) or say what the plan uses.

    ``extra_devices`` are devices the run adds that the rig file does not list (name → role), such as
    the operator's typed-in air conditions.
    """
    roles = {name: device.role for name, device in config.devices.items()} | dict(extra_devices or {})
    needs = list(sequence.device_needs(params))
    problems: list[str] = []
    registration = config.tracker_registration
    if sequence.uses_registration:
        if registration is None:
            problems.append(
                f"tracker_registration: the rig {config.name!r} has none; expected the registration "
                f"phantom (tracker device and fiducial tools at known IEC f positions), which "
                f"{sequence.name} measures with"
            )
        else:
            needs.append(DeviceNeed("rig tracker_registration.tracker", registration.tracker, "tracker"))
    problems += _missing_devices(needs, roles, config.name)
    if not problems and registration is not None and sequence.uses_registration:
        problems += _missing_tools(sequence, params, config, registration)
    if problems:
        raise ConfigError(source, problems)
    used = {need.device for need in needs}
    expired = _expired_certificates(config, used, today or datetime.now(UTC).date())
    if expired and config.expired_certificate == "refuse":
        raise ConfigError(source, [f"{line} (rig expired_certificate: refuse)" for line in expired])
    warnings = tuple(expired)
    try:
        messages = dry_run(sequence.plan(params, RigFileContext(config)), rig_file_envelope(config, used))
    except LimitsAtConnect as waiting:
        return PlanCheck(frozenset(used), None, (f"{waiting.device}: {AT_CONNECT}",), warnings)
    except (PreflightError, HilcalDriverError, HilcalError, ValueError, KeyError) as err:
        raise ConfigError(source, [_plan_problem(err)]) from err
    problems += _shared_port_problems(messages, config)
    flat = [member for message in messages for member in members(message)]  # a group's members
    for message in flat:
        device = getattr(message, "device", None)
        if isinstance(device, str) and device:
            if device not in roles:
                problems.append(f"the plan addresses {device!r}, which is not in the rig {config.name!r}")
            used.add(device)
    problems += _dosimeter_settings_problems(flat, config)
    if problems:
        raise ConfigError(source, problems)
    unchecked = tuple(
        f"{name}: {AT_CONNECT}" for name in sorted(used) if _has_unlimited_axes(config, name, roles)
    )
    return PlanCheck(frozenset(used), len(messages), unchecked, warnings)


def _shared_port_problems(messages: list[Message], config: RigConfig) -> list[str]:
    """A ``Together`` runs its members on threads: two behind one port (a daisy chain) would share a line."""
    problems: list[str] = []
    for step, message in enumerate(messages):
        if not isinstance(message, Together):
            continue
        by_port: dict[str, list[str]] = {}
        for member in message.messages:
            name = str(getattr(member, "device", ""))
            entry = config.devices.get(name)
            if entry is not None:
                by_port.setdefault(str(entry.port), []).append(name)
        for port, names in by_port.items():
            if len(names) > 1:
                problems.append(
                    f"step {step} (Together): {', '.join(names)} share the port {port!r} and cannot run "
                    "together; put them in consecutive steps"
                )
    return problems


def _expired_certificates(config: RigConfig, used: set[str], today: date) -> list[str]:
    lines = []
    for name in sorted(used):
        entry = config.devices.get(name)
        if entry is None:
            continue
        for where, certificate in entry.certificates():
            if certificate.expires < today:
                lines.append(
                    f"devices.{name}.{where} {certificate.id!r} expired on {certificate.expires} "
                    f"(today {today}): recalibrate the instrument or renew the certificate"
                )
    return lines


def _missing_devices(needs: list[DeviceNeed], roles: Mapping[str, str], rig: str) -> list[str]:
    problems = []
    for need in needs:
        role = roles.get(need.device)
        candidates = sorted(name for name, r in roles.items() if r == need.role)
        offer = f"one of {candidates}" if candidates else f"the rig has no {need.role}"
        if role is None:
            problems.append(
                f"{need.parameter} = {need.device!r}: no such device in the rig {rig!r}; "
                f"expected a {need.role}, {offer}"
            )
        elif role != need.role:
            problems.append(
                f"{need.parameter} = {need.device!r}: that device is a {role}; "
                f"expected a {need.role}, {offer}"
            )
    return problems


def _missing_tools(
    sequence: Sequence[BaseModel],
    params: BaseModel,
    config: RigConfig,
    registration: TrackerRegistrationConfig,
) -> list[str]:
    entry = config.devices[registration.tracker]
    spec = DRIVERS.get(entry.driver)
    if spec is None or spec.tool_names is None:
        return []
    try:
        loaded = spec.tool_names(spec.params_model.model_validate(entry.params))
    except ValidationError:
        return []  # the rig build names the bad driver parameters
    wanted = [("rig tracker_registration.points_mm", tool) for tool in registration.points_mm]
    wanted += [(need.parameter, need.tool) for need in sequence.tool_needs(params)]
    return [
        f"{parameter} = {tool!r}: not a tool of tracker {registration.tracker!r}; "
        f"expected one of {sorted(loaded)}"
        for parameter, tool in wanted
        if tool not in loaded
    ]


def rig_file_envelope(config: RigConfig, devices: set[str]) -> SafetyEnvelope:
    """The envelope the rig file alone sets; axes it leaves open are checked at connect."""
    envelope = SafetyEnvelope()
    for name in sorted(devices):
        entry = config.devices.get(name)
        if entry is None:
            continue
        if entry.role == "positioner":
            low, high = entry.soft_limits_mm or (-math.inf, math.inf)
            envelope.set_axis_limits(
                name, low, high, "rig soft limits" if entry.soft_limits_mm else AT_CONNECT
            )
        elif entry.role == "couch":
            parts = _rig_couch_limits(config, name)
            for label, part in parts:
                envelope.set_couch_limits(name, part, label)
            covered = {axis for _, part in parts for axis in part}
            open_axes = {a: (-math.inf, math.inf) for a in COUCH_AXES if a not in covered}
            if open_axes:
                envelope.set_couch_limits(name, open_axes, AT_CONNECT)
            if config.motion_safety is not None:
                known = {a: (lim.low_mm, lim.high_mm) for a, lim in envelope.couch_limits(name).items()}
                finite = {a: v for a, v in known.items() if math.isfinite(v[0]) and math.isfinite(v[1])}
                guard = CollisionGuard.from_config(
                    config.motion_safety, finite, gantry_deg=config.gantry_deg, device=name
                )
                envelope.add_couch_path_check(straight_path_check(guard, name))
    return envelope


def _rig_couch_limits(config: RigConfig, name: str) -> list[tuple[str, dict[str, tuple[float, float]]]]:
    entry = config.devices[name]
    parts: list[tuple[str, dict[str, tuple[float, float]]]] = []
    spec = DRIVERS.get(entry.driver)
    if spec is not None and spec.rig_couch_limits is not None:
        with contextlib.suppress(ValidationError):  # the rig build names bad driver parameters
            driver_params = spec.params_model.model_validate(entry.params)
            parts.append(("driver soft limits", spec.rig_couch_limits(driver_params)))
    if entry.couch_limits:
        parts.append(("rig couch limits", dict(entry.couch_limits)))
    return parts


def _has_unlimited_axes(config: RigConfig, name: str, roles: Mapping[str, str]) -> bool:
    entry = config.devices.get(name)
    if entry is None:
        return False
    if entry.role == "positioner":
        return entry.soft_limits_mm is None
    if entry.role == "couch":
        covered: set[str] = set()
        for _, part in _rig_couch_limits(config, name):
            covered |= set(part)
        return covered != set(COUCH_AXES)
    return False


def _dosimeter_settings_problems(messages: list[Message], config: RigConfig) -> list[str]:
    problems: list[str] = []
    seen: set[tuple[str, object]] = set()
    for step, message in enumerate(messages):
        if not isinstance(message, ConfigureDosimeter) or (message.device, message.settings) in seen:
            continue
        seen.add((message.device, message.settings))
        entry = config.devices.get(message.device)
        spec = DRIVERS.get(entry.driver) if entry is not None else None
        if entry is None or spec is None or spec.check_settings is None:
            continue
        try:
            spec.check_settings(
                message.device, spec.params_model.model_validate(entry.params), message.settings
            )
        except ValidationError:
            continue  # the rig build names the bad driver parameters
        except (HilcalDriverError, ValueError) as err:
            setting, value = _setting_of(err, message)
            problems.append(f"{setting} = {value!r} (step {step}, {message.device}): {err}")
    return problems


def _setting_of(err: Exception, message: ConfigureDosimeter) -> tuple[str, object]:
    """Which electrometer setting the driver refused (the sequences name their parameters the same)."""
    text = str(err).lower()
    settings = message.settings
    for keyword, name in (
        ("bias", "bias_voltage_v"),
        ("range", "range"),
        ("integration", "integration_time_s"),
        ("mode", "mode"),
    ):
        if keyword in text:
            return name, getattr(settings, name)
    return "settings", settings


def _plan_problem(err: Exception) -> str:
    """A plan refused while walked: say it as a parameter problem, without the exception's class name."""
    if isinstance(err, PreflightError | HilcalError | HilcalDriverError):
        return str(err)
    return describe_error(err)
