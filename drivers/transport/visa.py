"""VISA transport over pyvisa (pyvisa-py by default).

Resource strings pass through untouched: ``ASRL/dev/pts/3::INSTR``, ``TCPIP::127.0.0.1::5025::SOCKET``,
``GPIB0::27::INSTR``, ``USB0::...::INSTR``. Each transport owns its ResourceManager so that closing one
instrument never closes another's session (the shared-manager trap pyvisa users keep falling into).

The VISA library is the rig's choice: ``@py`` (pyvisa-py, pure Python, the default), ``@ivi`` (the vendor
VISA installed on the machine: NI-VISA, Keysight IO Libraries), ``@sim`` (pyvisa-sim) or a path to a
VISA shared library. One that cannot be loaded is a ``VisaLibraryError``, never a fallback to another.
"""

from __future__ import annotations

import time

import pyvisa
from pyvisa import constants
from pyvisa.errors import VisaIOError
from pyvisa.resources import MessageBasedResource

from drivers.errors import TransportError, TransportTimeout
from drivers.transport.base import Transport

DEFAULT_VISA_LIBRARY = "@py"


class VisaLibraryError(TransportError):
    """The VISA library asked for cannot be loaded (not installed, wrong path, no such backend)."""

    def __init__(self, device: str, library: str, reason: str) -> None:
        self.library = library
        self.reason = reason
        super().__init__(device, f"cannot load VISA library {library!r}: {reason}")


def open_resource_manager(library: str, device: str = "visa") -> pyvisa.ResourceManager:
    """``pyvisa.ResourceManager(library)``, or ``VisaLibraryError`` saying why it cannot be loaded."""
    try:
        return pyvisa.ResourceManager(library)
    except (ValueError, OSError) as err:  # no wrapper package (ValueError), no shared library (OSError)
        reason = str(err).strip() or type(err).__name__
        raise VisaLibraryError(device, library, reason) from err


class VisaTransport(Transport):
    def __init__(
        self,
        resource: str,
        *,
        device: str,
        visa_library: str = DEFAULT_VISA_LIBRARY,
        timeout_s: float = 2.0,
        baudrate: int | None = None,
    ) -> None:
        super().__init__(device, timeout_s)
        self.resource_name = resource
        self.visa_library = visa_library
        self._manager = open_resource_manager(visa_library, device)
        try:
            opened = self._manager.open_resource(resource)
        except (VisaIOError, ValueError, OSError) as err:
            self._manager.close()
            raise TransportError(device, f"cannot open VISA resource {resource!r}: {err}") from err
        if not isinstance(opened, MessageBasedResource):
            opened.close()
            raise TransportError(device, f"VISA resource {resource!r} is not message-based")
        self._resource: MessageBasedResource = opened
        self._resource.timeout = int(timeout_s * 1000)
        self._resource.read_termination = ""  # framing is ours: read raw up to each reply's terminator
        self._resource.write_termination = ""
        if baudrate is not None and hasattr(self._resource, "baud_rate"):
            self._resource.baud_rate = baudrate
        self._pending = bytearray()

    def _write(self, data: bytes) -> None:
        try:
            self._resource.write_raw(data)
        except VisaIOError as err:
            raise TransportError(self.device, f"write of {data!r} failed: {err}") from err

    def _read_until(self, terminator: bytes, timeout_s: float, command: bytes | None) -> bytes:
        deadline = time.monotonic() + timeout_s
        termchar = terminator[-1]
        while (index := self._pending.find(terminator)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TransportTimeout(self.device, command, bytes(self._pending), timeout_s)
            self._resource.timeout = max(1, int(remaining * 1000))
            self._resource.set_visa_attribute(constants.ResourceAttribute.termchar, termchar)
            self._resource.set_visa_attribute(constants.ResourceAttribute.termchar_enabled, constants.VI_TRUE)
            try:
                chunk = self._resource.read_bytes(4096, break_on_termchar=True)
            except VisaIOError as err:
                if err.error_code == constants.StatusCode.error_timeout:
                    raise TransportTimeout(self.device, command, bytes(self._pending), timeout_s) from err
                raise TransportError(self.device, f"read failed: {err}") from err
            self._pending += chunk
        end = index + len(terminator)
        data = bytes(self._pending[:end])
        del self._pending[:end]
        return data

    def _read_exactly(self, count: int, timeout_s: float, command: bytes | None) -> bytes:
        if len(self._pending) < count:
            self._resource.timeout = max(1, int(timeout_s * 1000))
            self._resource.set_visa_attribute(
                constants.ResourceAttribute.termchar_enabled, constants.VI_FALSE
            )
            try:
                self._pending += self._resource.read_bytes(count - len(self._pending))
            except VisaIOError as err:
                if err.error_code == constants.StatusCode.error_timeout:
                    raise TransportTimeout(self.device, command, bytes(self._pending), timeout_s) from err
                raise TransportError(self.device, f"read failed: {err}") from err
        data = bytes(self._pending[:count])
        del self._pending[:count]
        return data

    def _discard_input(self) -> bytes:
        stale = bytes(self._pending)
        self._pending.clear()
        return stale

    def _close(self) -> None:
        try:
            self._resource.close()
        finally:
            self._manager.close()
