"""What a device says about itself, read over its own protocol at connect.

A results history is keyed by the device that produced it, so a swapped stage or chamber must start a new
history: ``DeviceIdentity.key`` (vendor/model/serial) is that key. Every field holds what the device (or,
for the vendor, its protocol) reported; a field the protocol does not provide is ``""``, never a guess.
``raw`` keeps the reply text the fields were taken from, for the record.

Every driver role object offers ``device_identity() -> DeviceIdentity`` (``Identifiable``); it does no I/O
(the answer is cached at connect) and raises ``IllegalStateError`` before the first successful connect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    """Vendor, model, serial number and firmware as the device reports them; ``""`` where it does not."""

    vendor: str
    model: str
    serial: str
    firmware: str
    raw: str

    @property
    def key(self) -> str:
        """``vendor/model/serial``: the identity a results history is keyed by (firmware updates keep it)."""
        return f"{self.vendor}/{self.model}/{self.serial}"

    def as_record(self) -> dict[str, str]:
        """A JSON-ready dict for the journal, manifest and results store (``key`` included)."""
        return {
            "vendor": self.vendor,
            "model": self.model,
            "serial": self.serial,
            "firmware": self.firmware,
            "key": self.key,
            "raw": self.raw,
        }


@runtime_checkable
class Identifiable(Protocol):
    """A role object that can say which physical device it is talking to (no I/O: cached at connect)."""

    def device_identity(self) -> DeviceIdentity: ...


def identity_of(device: object) -> DeviceIdentity | None:
    """``device.device_identity()``, or None for an object without it (test doubles, in-memory roles)."""
    if isinstance(device, Identifiable):
        return device.device_identity()
    return None


def from_idn(text: str) -> DeviceIdentity:
    """An IEEE 488.2 ``*IDN?`` reply: manufacturer, model, serial number, firmware level.

    488.2 has a device that cannot report a serial or firmware answer ``0`` in that field; that becomes
    ``""`` here. A reply without exactly four comma-separated fields fills nothing (only ``raw``), since
    which field is which would then be a guess.
    """
    parts = [part.strip() for part in text.strip().split(",")]
    if len(parts) != 4:
        return DeviceIdentity("", "", "", "", text.strip())
    vendor, model, serial, firmware = parts
    return DeviceIdentity(
        vendor=vendor,
        model=model,
        serial="" if serial == "0" else serial,
        firmware="" if firmware == "0" else firmware,
        raw=text.strip(),
    )
