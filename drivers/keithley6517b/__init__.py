"""Keithley 6517B electrometer driver (see docs/drivers/keithley-6517b.md).

``Keithley6517B`` satisfies ``drivers.roles.dosimeter.Dosimeter`` over any ``Transport``: in production a
``drivers.transport.visa.VisaTransport`` on ``GPIB0::27::INSTR`` or ``ASRL…::INSTR``; in tests a scripted
transport, a pty or a TCP socket. ``build_keithley6517b`` is the registry builder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from drivers.clock import Clock
from drivers.keithley6517b.electrometer import (
    READABLE,
    STATES,
    TRANSITIONS,
    TRIGGER_SOURCES,
    Keithley6517B,
)
from drivers.keithley6517b.scpi import (
    STATUS_LETTERS,
    UNITS,
    KeithleyIdentity,
    KeithleyReading,
    parse_error,
    parse_reading,
    parse_readings,
)

if TYPE_CHECKING:  # the registry imports this package to register it: no runtime import back
    from drivers.registry import PortPool

__all__ = [
    "READABLE",
    "STATES",
    "STATUS_LETTERS",
    "TRANSITIONS",
    "TRIGGER_SOURCES",
    "UNITS",
    "Keithley6517B",
    "Keithley6517BParams",
    "KeithleyIdentity",
    "KeithleyReading",
    "build_keithley6517b",
    "parse_error",
    "parse_reading",
    "parse_readings",
]


class Keithley6517BParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bias_limit_v: float = Field(
        default=400.0, gt=0, le=1000, description="largest |bias| allowed on this rig (chamber rating)"
    )
    nplc: float = Field(
        default=1.0, ge=0.01, le=10, description="A/D integration per reading, power-line cycles"
    )
    zero_check_hop_correction: bool = Field(
        default=True, description="subtract the charge read right after zero check is released"
    )


def build_keithley6517b(name: str, port: str, params: BaseModel, pool: PortPool, clock: Clock) -> Any:
    """Registry builder: one 6517B per port (a GPIB address is its own resource string)."""
    assert isinstance(params, Keithley6517BParams)
    key = ("keithley-6517b", port)
    if key in pool.sessions:
        raise ValueError(f"{name}: port {port!r} already carries a 6517B ({pool.sessions[key].name!r})")
    device = Keithley6517B(
        pool.transport(port, name),
        name=name,
        clock=clock,
        bias_limit_v=params.bias_limit_v,
        nplc=params.nplc,
        zero_check_hop_correction=params.zero_check_hop_correction,
    )
    pool.sessions[key] = device
    return device
