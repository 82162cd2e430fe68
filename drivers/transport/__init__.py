"""Byte channels: one interface (``Transport``), pyserial and pyvisa implementations, a scripted one."""

from drivers.transport.base import BufferedTransport, Exchange, ExchangeListener, Transport

__all__ = ["BufferedTransport", "Exchange", "ExchangeListener", "Transport", "open_transport"]


def open_transport(address: str, *, device: str, timeout_s: float = 1.0, baudrate: int = 115200) -> Transport:
    """Open a transport from an address: a VISA resource string or a pyserial URL/path.

    VISA strings are recognised by their interface prefix (``ASRL``, ``TCPIP``, ``GPIB``, ``USB``); anything
    else goes to pyserial's ``serial_for_url``.
    """
    upper = address.upper()
    if upper.startswith(("ASRL", "TCPIP", "GPIB", "USB", "VXI")) and "::" in address:
        from drivers.transport.visa import VisaTransport

        return VisaTransport(address, device=device, timeout_s=timeout_s, baudrate=baudrate)
    from drivers.transport.serial_port import SerialTransport

    return SerialTransport(address, device=device, timeout_s=timeout_s, baudrate=baudrate)
