"""NDI ``ERRORxx`` codes as one typed error, and the tracker's own errors.

A Combined API device answers a command it refuses with ``ERRORxx`` (two hex digits) plus CRC. The
connection turns that into ``NdiError``, which keeps the code and the meaning from ``ERROR_CODES``, so a
log line reads "PINIT:01 rejected with ERROR0D (no tool assigned to the selected port handle)".

Codes and meanings: the error-string table of ndicapi (``ndiErrorString``, PlusToolkit/ndicapi), which
follows NDI's API guide, plus 0x34, whose meaning here is our own reading with no public source to
cite. Host-side failures (bad reply CRC, timeouts) are not in this table: they are ``ProtocolError`` and
``TransportTimeout``, as for every other driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from drivers.errors import DeviceFault, DeviceRejected, HilcalDriverError

#: Device error code → meaning. Codes not listed are reported with a generic meaning, never refused.
ERROR_CODES: Final[Mapping[int, str]] = MappingProxyType(
    {
        0x01: "invalid command",
        0x02: "command too long",
        0x03: "command too short",
        0x04: "invalid CRC calculated for command",
        0x05: "time-out on command execution",
        0x06: "unable to set up new communication parameters",
        0x07: "incorrect number of command parameters",
        0x08: "invalid port handle selected",
        0x09: "invalid tracking priority selected (must be S, D or B)",
        0x0A: "invalid LED selected",
        0x0B: "invalid LED state selected",
        0x0C: "command is invalid while in the current mode",
        0x0D: "no tool assigned to the selected port handle",
        0x0E: "selected port handle not initialised",
        0x0F: "selected port handle not enabled",
        0x10: "system not initialised",
        0x11: "unable to stop tracking",
        0x12: "unable to start tracking",
        0x13: "unable to initialise tool-in-port",
        0x14: "invalid position sensor characterisation parameters",
        0x15: "unable to initialise the measurement system",
        0x16: "unable to start diagnostic mode",
        0x17: "unable to stop diagnostic mode",
        0x18: "unable to determine environmental infrared interference",
        0x19: "unable to read the firmware version",
        0x1A: "internal measurement system error",
        0x1B: "unable to initialise for environmental infrared diagnostics",
        0x1C: "unable to set marker firing signature",
        0x1D: "unable to search for SROM IDs",
        0x1E: "unable to read SROM data",
        0x1F: "unable to write SROM data",
        0x20: "unable to select SROM",
        0x21: "unable to perform tool current test",
        0x22: "no camera parameters for the wavelength of an enabled tool",
        0x23: "command parameter out of range",
        0x24: "unable to select parameters by volume",
        0x25: "unable to determine the supported features list",
        0x28: "hardware has changed state (a card was removed or added)",
        0x29: "main processor firmware corrupt",
        0x2A: "no memory available for dynamic allocation",
        0x2B: "requested port handle has not been allocated",
        0x2C: "requested port handle has become unoccupied",
        0x2D: "all port handles have been allocated",
        0x2E: "invalid port description",
        0x2F: "requested port already assigned to a port handle",
        0x30: "invalid input or output state",
        0x34: "no such user parameter",
        0xF1: "too much environmental infrared",
        0xF4: "unable to erase flash EPROM",
        0xF5: "unable to write flash EPROM",
        0xF6: "unable to read flash EPROM",
    }
)


class NdiError(DeviceRejected):
    """The tracker answered ``ERRORxx`` to ``command``; ``ndi_code`` and ``text`` say which.

    ``code`` (from ``DeviceRejected``) is the wire form, e.g. ``"ERROR0D"``.
    """

    def __init__(self, device: str, command: str, ndi_code: int, text: str) -> None:
        super().__init__(device, command, f"ERROR{ndi_code:02X}", text)
        self.ndi_code = ndi_code
        self.text = text


def ndi_error(device: str, command: str, code: int) -> NdiError:
    """The typed error for an ``ERRORxx`` reply."""
    text = ERROR_CODES.get(code, "error code not in our table (see NDI's API guide)")
    return NdiError(device, command, code, text)


class FrameTimeout(HilcalDriverError):
    """The tracker kept repeating the last frame number past the (clock) deadline: the camera is not
    producing new measurements, so no new frame is returned."""

    def __init__(self, device: str, timeout_s: float, frame_numbers: tuple[int | None, ...]) -> None:
        super().__init__(
            f"{device}: no new tracker frame after {timeout_s:g} s on the rig clock; "
            f"the frame numbers stayed {frame_numbers}"
        )
        self.device = device
        self.timeout_s = timeout_s
        self.frame_numbers = frame_numbers


class TrackerFault(DeviceFault):
    """The tracker reported a condition that makes its measurements untrustworthy (system status bits)."""
