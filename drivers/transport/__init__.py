"""Byte channels: one interface (``Transport``), pyserial and pyvisa implementations, a scripted one."""

from drivers.transport.base import BufferedTransport, Exchange, ExchangeListener, Transport

__all__ = [
    "BufferedTransport",
    "Exchange",
    "ExchangeListener",
    "Transport",
    "is_visa_resource",
    "open_transport",
]


def is_visa_resource(address: str) -> bool:
    """Whether ``address`` is a VISA resource string (interface prefix and ``::``), not a pyserial URL."""
    return address.upper().startswith(("ASRL", "TCPIP", "GPIB", "USB", "VXI")) and "::" in address


def open_transport(
    address: str,
    *,
    device: str,
    timeout_s: float = 1.0,
    baudrate: int = 115200,
    visa_library: str = "@py",
) -> Transport:
    """Open a transport from an address: a VISA resource string or a pyserial URL/path.

    VISA strings are recognised by their interface prefix (``ASRL``, ``TCPIP``, ``GPIB``, ``USB``) and go
    through ``visa_library`` (``@py``, ``@ivi``, ``@sim`` or a library path); anything else goes to
    pyserial's ``serial_for_url``.
    """
    if is_visa_resource(address):
        from drivers.transport.visa import VisaTransport

        return VisaTransport(
            address, device=device, timeout_s=timeout_s, baudrate=baudrate, visa_library=visa_library
        )
    from drivers.transport.serial_port import SerialTransport

    return SerialTransport(address, device=device, timeout_s=timeout_s, baudrate=baudrate)
