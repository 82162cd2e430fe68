"""PTW UNIDOS Tango/Romeo front-end: the `;`-separated remote protocol over TCP (port 8123) or a pty."""

from simulators.ptw_unidos.device import (
    RANGES,
    UnidosConfig,
    UnidosRange,
    UnidosSession,
    UnidosSim,
    build_unidos,
)
from simulators.ptw_unidos.protocol import ERROR_TEXTS, Request, UnidosError, engineering, parse_request

__all__ = [
    "ERROR_TEXTS",
    "RANGES",
    "Request",
    "UnidosConfig",
    "UnidosError",
    "UnidosRange",
    "UnidosSession",
    "UnidosSim",
    "build_unidos",
    "engineering",
    "parse_request",
]
