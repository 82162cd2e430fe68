"""PI GCS 2.0 front-end: a C-887 hexapod controller whose platform is a hexapod in the world."""

from simulators.pi_gcs.controller import (
    HELP,
    PiGcsControllerConfig,
    PiGcsControllerSim,
    PiGcsSession,
    build_pi_gcs_controllers,
    check_pi_gcs_wiring,
)
from simulators.pi_gcs.protocol import Command, CommandError, ErrorCode, format_lines, parse_line

__all__ = [
    "HELP",
    "Command",
    "CommandError",
    "ErrorCode",
    "PiGcsControllerConfig",
    "PiGcsControllerSim",
    "PiGcsSession",
    "build_pi_gcs_controllers",
    "check_pi_gcs_wiring",
    "format_lines",
    "parse_line",
]
