"""PTW UNIDOS Tango/Romeo driver (see docs/drivers/ptw-unidos.md).

``PtwUnidos`` satisfies ``drivers.roles.dosimeter.Dosimeter`` over any ``Transport``: TCP port 8123 ("SCPI
over telnet"; ``socket://host:8123`` or ``TCPIP::host::8123::SOCKET``) or a serial port. ``build_unidos`` is
the registry builder; ``UnidosParams`` its rig-file parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from drivers.clock import Clock
from drivers.ptw_unidos.dosimeter import (
    HV_LIMIT_V,
    READABLE,
    STATES,
    TRANSITIONS,
    TRIGGER_SOURCES,
    PtwUnidos,
)
from drivers.ptw_unidos.protocol import (
    ERROR_CODES,
    FLAG_BITS,
    RANGES,
    STATUS_STATES,
    UnidosIdentity,
    UnidosMeasurement,
    UnidosRangeValues,
    UnidosReply,
    UnidosZeroStatus,
    build_command,
    decode_flags,
    parse_measurement,
    parse_reply,
)

if TYPE_CHECKING:  # the registry imports this package to register it: no runtime import back
    from drivers.registry import PortPool

__all__ = [
    "ERROR_CODES",
    "FLAG_BITS",
    "HV_LIMIT_V",
    "RANGES",
    "READABLE",
    "STATES",
    "STATUS_STATES",
    "TRANSITIONS",
    "TRIGGER_SOURCES",
    "PtwUnidos",
    "UnidosIdentity",
    "UnidosMeasurement",
    "UnidosParams",
    "UnidosRangeValues",
    "UnidosReply",
    "UnidosZeroStatus",
    "build_command",
    "build_unidos",
    "decode_flags",
    "parse_measurement",
    "parse_reply",
]


class UnidosParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bias_limit_v: float = Field(
        default=HV_LIMIT_V,
        gt=0,
        le=HV_LIMIT_V,
        description="largest |HV| allowed on this rig (chamber rating)",
    )
    poll_interval_s: float = Field(default=0.5, gt=0, le=10, description="status poll period while zeroing")


def build_unidos(name: str, port: str, params: BaseModel, pool: PortPool, clock: Clock) -> Any:
    """Registry builder: one UNIDOS per port (a UNIDOS answers one client conversation)."""
    assert isinstance(params, UnidosParams)
    key = ("ptw-unidos", port)
    if key in pool.sessions:
        raise ValueError(f"{name}: port {port!r} already carries a UNIDOS ({pool.sessions[key].name!r})")
    transport = pool.transport(port, name)
    device = PtwUnidos(
        transport,
        name=name,
        clock=clock,
        bias_limit_v=params.bias_limit_v,
        poll_interval_s=params.poll_interval_s,
    )
    pool.sessions[key] = device
    return device
