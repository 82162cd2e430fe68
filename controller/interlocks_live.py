"""Live interlock sources: signals that pause a run while they are open and let it resume when all clear.

These are not safety systems. A treatment room's door and beam interlocks act in hardware (the linac
cuts the beam, the couch pendant's enable chain stops motion); hilcal reads the same signals so that a
measurement never spans an interlock: the engine pauses at its next safe point, holds any integration,
and repeats the interrupted work once every source is clear again (docs/pause.md).

Kinds a rig file can name under ``interlocks:``:

* ``simulated-door`` — the simulated room's door switch (every simulated rig has one as ``room_door``);
* ``file`` — a file whose stripped content says "clear", e.g. a GPIO line in Linux sysfs
  (``/sys/class/gpio/gpio17/value``) or a file a site's own daemon keeps up to date;
* ``scpi`` — a query over a serial line or a VISA resource to a digital-input instrument (a DAQ, a PLC
  with a SCPI front-end, a DIO card), clear when the reply matches.

A source that cannot be read counts as open: an unknown door is not a closed door.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from drivers.clock import Clock
from drivers.transport import Transport, open_transport

SIMULATED_DOOR = "room_door"


@runtime_checkable
class Interlock(Protocol):
    """One signal; ``reason`` says in a few words why it is open (or what it watches when clear)."""

    name: str

    def is_clear(self) -> bool: ...

    @property
    def reason(self) -> str: ...

    def close(self) -> None: ...


# -- rig-file models -------------------------------------------------------------------------------
class _Common(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    description: str = Field(default="", description="what the signal is, in the room's words")
    poll_interval_s: float = Field(
        default=0.5, ge=0.0, le=60.0, description="read at most this often (rig clock); 0 reads every time"
    )


class SimulatedDoorConfig(_Common):
    kind: Literal["simulated-door"]
    poll_interval_s: float = Field(default=0.0, ge=0.0, le=60.0)


class FileInterlockConfig(_Common):
    kind: Literal["file"]
    path: Path = Field(description="file to read, e.g. /sys/class/gpio/gpio17/value")
    clear_when: str = Field(default="1", description="the stripped content that means clear")


class ScpiInterlockConfig(_Common):
    kind: Literal["scpi"]
    port: str = Field(min_length=1, description="serial path, pyserial URL or VISA resource string")
    query: str = Field(min_length=1, description="the query, sent with a newline, e.g. 'SOUR:DIG:DATA?'")
    clear_pattern: str = Field(
        default="1", min_length=1, description="regular expression the stripped reply must match fully"
    )
    timeout_s: float = Field(default=1.0, gt=0.0, le=30.0)
    baudrate: int = Field(default=9600, gt=0)


InterlockConfig = Annotated[
    SimulatedDoorConfig | FileInterlockConfig | ScpiInterlockConfig, Field(discriminator="kind")
]


# -- sources ---------------------------------------------------------------------------------------
class SimulatedDoorInterlock:
    """The simulated room's door (``simulators.room.RoomDoor``, reached through the rig factory)."""

    def __init__(self, name: str, door: Any) -> None:
        self.name = name
        self._door = door

    def is_clear(self) -> bool:
        return not bool(self._door.is_open())

    @property
    def reason(self) -> str:
        return "room door open" if self._door.is_open() else "room door closed"

    def close(self) -> None:
        return None


class FileInterlock:
    """Clear while the file's stripped content equals ``clear_when`` (a sysfs GPIO value, a site file)."""

    def __init__(self, name: str, path: Path, clear_when: str = "1") -> None:
        self.name = name
        self._path = path
        self._clear_when = clear_when
        self._reason = f"{path} not read yet"

    def is_clear(self) -> bool:
        try:
            value = self._path.read_text(encoding="ascii", errors="replace").strip()
        except OSError as err:
            self._reason = f"cannot read {self._path}: {err.strerror or err}"
            return False
        self._reason = f"{self._path} reads {value!r} (clear when {self._clear_when!r})"
        return value == self._clear_when

    @property
    def reason(self) -> str:
        return self._reason

    def close(self) -> None:
        return None


class ScpiInterlock:
    """Clear while the reply to ``query`` matches ``clear_pattern``; a timeout or error counts as open."""

    def __init__(self, name: str, transport: Transport, query: str, clear_pattern: str) -> None:
        self.name = name
        self._transport = transport
        self._query = query.encode("ascii") + b"\n"
        self._pattern = re.compile(clear_pattern)
        self._reason = "not read yet"

    def is_clear(self) -> bool:
        try:
            self._transport.flush_input()
            reply = self._transport.query(self._query).decode("ascii", errors="replace").strip()
        except Exception as err:  # an unreadable source is an open one
            self._reason = f"cannot read it: {type(err).__name__}: {err}"
            return False
        self._reason = f"{self._query.decode().strip()} answered {reply!r}"
        return self._pattern.fullmatch(reply) is not None

    @property
    def reason(self) -> str:
        return self._reason

    def close(self) -> None:
        self._transport.close()


def build_interlocks(
    configs: dict[str, Any], door: Any | None, open_port: Callable[..., Transport] = open_transport
) -> list[tuple[Interlock, float]]:
    """The rig's interlock sources with their poll intervals; a simulated rig always has its door.

    ``door`` is the simulated room's door (from the rig factory) or None on a real rig; a
    ``simulated-door`` entry on a real rig is a configuration error the caller reports.
    """
    built: list[tuple[Interlock, float]] = []
    try:
        for name, config in configs.items():
            if isinstance(config, SimulatedDoorConfig):
                if door is None:
                    raise ValueError(f"interlocks.{name}: kind 'simulated-door' needs a simulated rig")
                built.append((SimulatedDoorInterlock(name, door), config.poll_interval_s))
            elif isinstance(config, FileInterlockConfig):
                built.append((FileInterlock(name, config.path, config.clear_when), config.poll_interval_s))
            elif isinstance(config, ScpiInterlockConfig):
                transport = open_port(
                    config.port,
                    device=f"interlock {name}",
                    timeout_s=config.timeout_s,
                    baudrate=config.baudrate,
                )
                scpi = ScpiInterlock(name, transport, config.query, config.clear_pattern)
                built.append((scpi, config.poll_interval_s))
        if door is not None and not any(isinstance(c, SimulatedDoorConfig) for c in configs.values()):
            built.append((SimulatedDoorInterlock(SIMULATED_DOOR, door), 0.0))
    except BaseException:
        for source, _ in built:
            source.close()
        raise
    return built


class InterlockMonitor:
    """Reads every source at the engine's safe points (rate-limited per source) and journals each change."""

    def __init__(
        self,
        sources: Sequence[Interlock | tuple[Interlock, float]],
        clock: Clock,
        record: Callable[..., Any] | None = None,
    ) -> None:
        self._sources = [s if isinstance(s, tuple) else (s, 0.0) for s in sources]
        self._clock = clock
        self._record = record
        self._last_read: dict[str, float] = {}
        self._clear: dict[str, bool] = {}
        self._reasons: dict[str, str] = {}

    def __bool__(self) -> bool:
        return bool(self._sources)

    def open_sources(self, *, force: bool = False) -> dict[str, str]:
        """Every open source with its reason, reading those whose poll interval has passed (all if forced)."""
        if not self._sources:
            return {}
        now = self._clock.now()
        for source, interval in self._sources:
            last = self._last_read.get(source.name)
            if not force and last is not None and now - last < interval:
                continue
            self._last_read[source.name] = now
            clear = bool(source.is_clear())
            reason = source.reason
            if self._clear.get(source.name, True) != clear and self._record is not None:
                self._record("interlock", durable=True, source=source.name, clear=clear, reason=reason)
            self._clear[source.name] = clear
            self._reasons[source.name] = reason
        return {name: self._reasons[name] for name, clear in self._clear.items() if not clear}
