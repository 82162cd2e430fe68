"""Keithley 6517B electrometer front-end: SCPI over a raw TCP socket (pyvisa SOCKET) or a pty (ASRL)."""

from simulators.keithley6517b.device import (
    CHARGE_RANGES_C,
    CURRENT_RANGES_A,
    FUNCTIONS,
    Keithley6517bConfig,
    Keithley6517bSession,
    Keithley6517bSim,
    Reading,
    build_keithley6517b,
    format_value,
)
from simulators.keithley6517b.scpi import SCPI_ERRORS, ErrorQueue, ScpiError

__all__ = [
    "CHARGE_RANGES_C",
    "CURRENT_RANGES_A",
    "FUNCTIONS",
    "SCPI_ERRORS",
    "ErrorQueue",
    "Keithley6517bConfig",
    "Keithley6517bSession",
    "Keithley6517bSim",
    "Reading",
    "ScpiError",
    "build_keithley6517b",
    "format_value",
]
