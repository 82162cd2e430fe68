"""``hilcal rig check``: open every device of a rig, read what it says about itself, compare with the file.

A commissioning engineer wants to know before the first sequence that every instrument answers, is the
one the rig file means, and agrees with the limits and settings the file gives it. This check connects
each device exactly as a run does (connect reads identity, status, travel; it loads tracker tools and
takes the UNIDOS write token) and then only *reads*: it never homes, moves, changes a bias or starts
tracking. Every problem is collected, so one pass lists them all.

Problems (exit 1) are disagreements between the room and the file; a rig file that does not validate,
or names a driver that does not exist, is bad input (``ConfigError``, exit 2) as for ``hilcal run``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from controller.config import DeviceConfig, RigConfig
from controller.errors import ConfigError, describe_error, describe_validation_errors
from controller.rig.factory import SIM_PREFIX, Rig, build_rig
from drivers.keithley6517b.electrometer import Keithley6517B
from drivers.pi_gcs.couch import HexapodCouch
from drivers.pi_gcs.iec import iec_ranges
from drivers.ptw_unidos.dosimeter import PtwUnidos
from drivers.registry import DRIVER_PLUGIN_PROBLEMS, DRIVERS
from drivers.roles.identity import DeviceIdentity
from drivers.transport.base import ExchangeListener

#: A certificate expiring within this many days is mentioned (not a problem yet).
EXPIRY_NOTICE_DAYS = 30
#: Slack when comparing a limit in the rig file with one the device reports (rounding of steps, mm, deg).
LIMIT_SLACK = 1e-6


@dataclass
class DeviceCheck:
    """What the check found for one device: its identity, what agreed, and every problem."""

    name: str
    role: str
    driver: str
    port: str
    identity: DeviceIdentity | None = None
    state: str = ""
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class RigCheckReport:
    rig: str
    source: str
    simulated: bool
    devices: list[DeviceCheck]
    problems: list[str] = field(default_factory=list)  # rig-level: plugins, registration, …
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and all(device.ok for device in self.devices)

    def all_problems(self) -> list[str]:
        return self.problems + [f"{d.name}: {p}" for d in self.devices for p in d.problems]

    def lines(self) -> list[str]:
        """The report as plain text lines (what ``hilcal rig check`` prints)."""
        kind = "simulated" if self.simulated else "real"
        out = [f"Rig {self.rig!r} ({kind}) from {self.source}: {len(self.devices)} device(s)"]
        for device in self.devices:
            mark = "ok" if device.ok else f"{len(device.problems)} PROBLEM(S)"
            out.append("")
            out.append(f"{device.name}  [{device.role}, {device.driver} on {device.port}]  {mark}")
            if device.identity is not None:
                ident = device.identity
                out.append(
                    f"    identity: {ident.vendor or '?'} {ident.model or '?'}, "
                    f"serial {ident.serial or '?'}, firmware {ident.firmware or '?'}"
                )
            if device.state:
                out.append(f"    state: {device.state}")
            out.extend(f"    ok: {note}" for note in device.notes)
            out.extend(f"    PROBLEM: {problem}" for problem in device.problems)
        if self.notes or self.problems:
            out.append("")
            out.append("Rig:")
            out.extend(f"    ok: {note}" for note in self.notes)
            out.extend(f"    PROBLEM: {problem}" for problem in self.problems)
        out.append("")
        total = len(self.all_problems())
        out.append("Nothing was moved, homed or switched on.")
        out.append(
            "Result: every device agrees with the rig file." if total == 0 else f"Result: {total} problem(s)."
        )
        return out


def check_rig(
    config: RigConfig,
    source: str = "rig",
    *,
    today: date | None = None,
    listener: ExchangeListener | None = None,
    on_rig_ready: Callable[[Rig], None] | None = None,
) -> RigCheckReport:
    """Connect every device of ``config`` and compare it with the file; raise ``ConfigError`` on bad input.

    ``listener`` sees every byte exchanged (the test proves no motion command is among them);
    ``on_rig_ready`` gets the live rig before any device is connected (a test changes the simulated world).
    """
    _check_drivers_and_params(config, source)
    day = today or datetime.now(UTC).date()
    checks = {
        name: DeviceCheck(name=name, role=device.role, driver=device.driver, port=device.port)
        for name, device in config.devices.items()
    }
    report = RigCheckReport(
        rig=config.name, source=source, simulated=config.simulated, devices=list(checks.values())
    )
    report.problems.extend(str(problem) for problem in DRIVER_PLUGIN_PROBLEMS)
    _check_registration(config, report)
    for name, device in config.devices.items():
        _check_certificate(device, checks[name], day, config.expired_certificate)
    rig = _open(config, source, checks)
    if rig is None:
        return report
    with rig:
        if listener is not None:
            rig.add_exchange_listener(listener)
        if on_rig_ready is not None:
            on_rig_ready(rig)
        for role_name, live in rig.devices.all():
            check = checks[role_name]
            _check_device(live, config.devices[role_name], check, config)
    return report


def _check_drivers_and_params(config: RigConfig, source: str) -> None:
    """The part of the rig file that is bad input: unknown drivers, wrong roles, invalid driver params."""
    problems: list[str] = []
    for name, device in config.devices.items():
        spec = DRIVERS.get(device.driver)
        if spec is None:
            broken = "".join(f"; {p}" for p in DRIVER_PLUGIN_PROBLEMS if p.name == device.driver)
            problems.append(
                f"devices.{name}.driver = {device.driver!r}: expected one of {sorted(DRIVERS)}{broken}"
            )
        elif spec.role != device.role:
            problems.append(
                f"devices.{name}.role = {device.role!r}: driver {device.driver!r} is a {spec.role}"
            )
        else:
            try:
                spec.params_model.model_validate(device.params)
            except ValidationError as err:
                problems.extend(describe_validation_errors(err.errors(), prefix=f"devices.{name}.params"))
        if device.port.startswith(SIM_PREFIX) and not config.simulated:
            problems.append(f"devices.{name}.port = {device.port!r}: 'sim:' ports need a simulation section")
    if problems:
        raise ConfigError(source, problems)


def _open(config: RigConfig, source: str, checks: dict[str, DeviceCheck]) -> Rig | None:
    """Build the rig; a device whose port cannot be opened is its problem, and the others are still built."""
    remaining = set(config.devices)
    while remaining:
        try:
            return build_rig(config, source, devices=remaining)
        except ConfigError as err:
            failed = {name for name in remaining if any(_names(problem, name) for problem in err.problems)}
            for problem in err.problems:
                owners = [name for name in failed if _names(problem, name)] or sorted(remaining)
                for name in owners:
                    checks[name].problems.append(problem)
            if not failed:  # not attributable to a device: reported on every remaining one above
                return None
            remaining -= failed
    return None


def _names(problem: str, device: str) -> bool:
    return re.search(rf"\bdevices\.{re.escape(device)}\b(?![\w-])", problem) is not None


def _check_device(live: Any, device: DeviceConfig, check: DeviceCheck, config: RigConfig) -> None:
    try:
        live.connect()
    except Exception as err:  # any refusal at connect is this device's problem; the others go on
        check.problems.append(f"connect failed: {describe_error(err)}")
    check.state = str(getattr(live, "state", ""))
    try:
        check.identity = live.device_identity()
    except Exception as err:
        check.problems.append(f"no identity: {describe_error(err)}")
        return  # connect did not get far enough to read anything else
    try:
        checker = _ROLE_CHECKS.get(device.role)
        if checker is not None:
            checker(live, device, check, config)
    except Exception as err:
        check.problems.append(f"reading its configuration failed: {describe_error(err)}")


def _within(inner: tuple[float, float], outer: tuple[float, float]) -> bool:
    return outer[0] - LIMIT_SLACK <= inner[0] and inner[1] <= outer[1] + LIMIT_SLACK


def _fmt(limits: tuple[float, float]) -> str:
    return f"[{limits[0]:g}, {limits[1]:g}]"


def _check_positioner(live: Any, device: DeviceConfig, check: DeviceCheck, config: RigConfig) -> None:
    travel = tuple(float(v) for v in live.travel_mm())
    assert len(travel) == 2
    reported = (travel[0], travel[1])
    if device.soft_limits_mm is None:
        check.notes.append(
            f"travel {_fmt(reported)} mm (no soft_limits_mm: the device's travel is the limit)"
        )
    elif _within(device.soft_limits_mm, reported):
        check.notes.append(
            f"soft_limits_mm {_fmt(device.soft_limits_mm)} within the travel {_fmt(reported)} mm"
        )
    else:
        check.problems.append(
            f"soft_limits_mm {_fmt(device.soft_limits_mm)} reach outside the travel the device reports "
            f"{_fmt(reported)} mm: expected soft limits inside the travel (wrong stage, or wrong "
            "microstep_size_um?)"
        )


def _check_couch(live: Any, device: DeviceConfig, check: DeviceCheck, config: RigConfig) -> None:
    if isinstance(live, HexapodCouch):
        reported = live.controller.pivot()
        check.notes.append(
            "pivot (SPI?) " + ", ".join(f"{v:g}" for v in reported) + " mm matches params.mounting.pivot_mm"
        )
        ranges = iec_ranges(live.controller.travel(), live.mounting)
        source = "params.soft_limits"
        given: Iterable[tuple[str, str, tuple[float, float]]] = [
            (source, axis, limits) for axis, limits in live.soft_limits.items()
        ]
    else:
        ranges = live.limits()
        given = []
    given = [*given, *(("couch_limits", axis, lim) for axis, lim in (device.couch_limits or {}).items())]
    bad = 0
    for where, axis, limits in given:
        if axis in ranges and not _within(limits, ranges[axis]):
            bad += 1
            check.problems.append(
                f"{where}.{axis} {_fmt(limits)} reaches outside the device's range {_fmt(ranges[axis])}: "
                "expected site limits inside what the couch can do"
            )
    if not bad:
        check.notes.append(f"{len(given)} site limit(s) inside the device-reported ranges")


def _check_dosimeter(live: Any, device: DeviceConfig, check: DeviceCheck, config: RigConfig) -> None:
    limit = float(device.params.get("bias_limit_v", getattr(live, "bias_limit_v", float("nan"))))
    if isinstance(live, PtwUnidos):
        bias = live.bias_voltage_v()
        if abs(bias) > limit:
            check.problems.append(
                f"the instrument is set to {bias:g} V, above params.bias_limit_v {limit:g} V (the chamber's "
                "rating): lower the HV on the instrument before connecting the chamber"
            )
        else:
            check.notes.append(f"HV {bias:g} V within params.bias_limit_v {limit:g} V")
    elif isinstance(live, Keithley6517B):
        on = live.bias_output_enabled()
        check.notes.append(
            f"V-source output {'ON' if on else 'off'}; a run sets the bias within params.bias_limit_v "
            f"{limit:g} V"
        )


def _check_tracker(live: Any, device: DeviceConfig, check: DeviceCheck, config: RigConfig) -> None:
    spec = DRIVERS[device.driver]
    expected: set[str] = set()
    if spec.tool_names is not None:
        params: BaseModel = spec.params_model.model_validate(device.params)
        expected = spec.tool_names(params)
    loaded = set(live.tool_names())
    handles = getattr(live, "handles", None)
    if isinstance(handles, dict):
        loaded = set(handles)
    missing = sorted(expected - loaded)
    if missing:
        check.problems.append(f"tools in params.tools not loaded on the tracker: {missing}")
    registration = config.tracker_registration
    if registration is not None and registration.tracker == check.name:
        unloaded = sorted(set(registration.points_mm) - loaded)
        if unloaded:
            check.problems.append(f"tracker_registration.points_mm names tools not loaded: {unloaded}")
    if not check.problems:
        check.notes.append(f"{len(loaded)} tool(s) loaded: {', '.join(sorted(loaded))}")


_ROLE_CHECKS: dict[str, Callable[[Any, DeviceConfig, DeviceCheck, RigConfig], None]] = {
    "positioner": _check_positioner,
    "couch": _check_couch,
    "dosimeter": _check_dosimeter,
    "tracker": _check_tracker,
}


def _check_certificate(device: DeviceConfig, check: DeviceCheck, today: date, site_rule: str) -> None:
    for where, certificate in device.certificates():
        chamber = device.chamber if where.startswith("chamber.") else None
        what = "certificate" if chamber is None else f"chamber {chamber.model} {chamber.serial}: certificate"
        if certificate.expires < today:
            rule = "a run using it is refused" if site_rule == "refuse" else "a run using it warns"
            check.problems.append(
                f"{what} {certificate.id!r} expired on {certificate.expires} (today {today}): {rule} "
                f"(expired_certificate: {site_rule}); recalibrate or renew"
            )
        elif certificate.expires <= today + timedelta(days=EXPIRY_NOTICE_DAYS):
            check.notes.append(f"{what} {certificate.id!r} expires soon, on {certificate.expires}")
        else:
            check.notes.append(f"{what} {certificate.id!r} valid until {certificate.expires}")


def _check_registration(config: RigConfig, report: RigCheckReport) -> None:
    registration = config.tracker_registration
    if registration is None:
        return
    tracker = config.devices.get(registration.tracker)
    if tracker is None or tracker.role != "tracker":
        report.problems.append(
            f"tracker_registration.tracker = {registration.tracker!r}: expected a device with role tracker"
        )
