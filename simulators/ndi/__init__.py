"""NDI Combined API front-end: Polaris Vega over TCP (port 8765), Polaris Spectra/Vicra over a pty."""

from simulators.ndi.device import (
    MAX_HANDLES,
    NdiCombinedApiSim,
    NdiConfig,
    NdiSession,
    PortHandle,
    build_ndi_sensors,
    check_ndi_wiring,
    rom_digest,
)
from simulators.ndi.protocol import (
    ERROR_TEXTS,
    Command,
    NdiError,
    ToolRecord,
    binary_reply,
    bx_body,
    crc16,
    error_reply,
    parse_command,
    text_reply,
    tx_payload,
)

__all__ = [
    "ERROR_TEXTS",
    "MAX_HANDLES",
    "Command",
    "NdiCombinedApiSim",
    "NdiConfig",
    "NdiError",
    "NdiSession",
    "PortHandle",
    "ToolRecord",
    "binary_reply",
    "build_ndi_sensors",
    "bx_body",
    "check_ndi_wiring",
    "crc16",
    "error_reply",
    "parse_command",
    "rom_digest",
    "text_reply",
    "tx_payload",
]
