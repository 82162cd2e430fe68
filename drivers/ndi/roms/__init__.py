"""Tool definition (ROM) files: where a rig's ``tools:`` entries point, and the built-in placeholders.

A rig names each tool's ROM as a path (absolute, or relative to the working directory) or as
``builtin:<name>``, one of the small images shipped in this folder. The built-ins are **placeholders for
simulated rigs**: 752-byte images in a layout of our own (below), not NDI's tool-definition format. A real
Polaris or Vega would refuse them at ``PINIT``; a real rig uses the vendor's ``.rom`` files for the marker
arrays actually mounted.

The protocol treats a ROM as opaque bytes, so the layout only has to be stable and self-describing, which
lets a simulator tell tools apart by the name inside. Placeholder layout, version 1 (little-endian):

======== ====== =============================================================
offset   size   content
======== ====== =============================================================
0        16     magic ``HILCAL-NDI-ROM`` + NUL + layout version (1)
16       32     tool name, ASCII, NUL-padded
48       16     part number ``HILCAL-PH-<nnn>``, NUL-padded
64       1      marker count n (3…8)
68       12 n   marker centres, ``float32`` x y z in mm in the tool's frame
…               zeros
750      2      CRC-16/ARC of bytes 0…749
======== ====== =============================================================

``python -m drivers.ndi.roms`` rewrites the shipped files from ``BUILTIN_TOOLS``; a test checks they match.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Final

from drivers.ndi.framing import ROM_MAX_SIZE, crc16

ROM_FOLDER: Final = Path(__file__).resolve().parent
BUILTIN_PREFIX: Final = "builtin:"
PLACEHOLDER_SIZE: Final = 752
PLACEHOLDER_MAGIC: Final = b"HILCAL-NDI-ROM\x00\x01"

Marker = tuple[float, float, float]

#: Built-in placeholder tools: name → (part-number suffix, marker centres in mm). The geometries are
#: invented (four markers, all inter-marker distances distinct), not copies of any vendor's tool.
BUILTIN_TOOLS: Final[Mapping[str, tuple[int, tuple[Marker, ...]]]] = MappingProxyType(
    {
        "reference": (1, ((0.0, 0.0, 0.0), (0.0, 32.0, 46.0), (0.0, 0.0, 95.0), (0.0, -48.0, 38.0))),
        "couch": (2, ((0.0, 0.0, 0.0), (0.0, 40.0, 30.0), (0.0, 10.0, 110.0), (0.0, -35.0, 65.0))),
        "phantom": (3, ((0.0, 0.0, 0.0), (0.0, 25.0, 55.0), (0.0, -20.0, 100.0), (0.0, -50.0, 20.0))),
        "pointer": (4, ((0.0, 0.0, 0.0), (0.0, 45.0, -20.0), (0.0, 0.0, -60.0), (0.0, -30.0, -95.0))),
    }
)


def placeholder_rom(name: str, part: int, markers: Sequence[Marker]) -> bytes:
    """A 752-byte placeholder image in the layout above."""
    encoded = name.encode("ascii")
    if not 1 <= len(encoded) <= 31:
        raise ValueError(f"placeholder tool name {name!r} must be 1..31 ASCII characters")
    if not 3 <= len(markers) <= 8:
        raise ValueError(f"a placeholder tool has 3..8 markers, got {len(markers)}")
    image = bytearray(PLACEHOLDER_SIZE)
    image[0:16] = PLACEHOLDER_MAGIC
    image[16:48] = encoded.ljust(32, b"\x00")
    image[48:64] = f"HILCAL-PH-{part:03d}".encode("ascii").ljust(16, b"\x00")
    image[64] = len(markers)
    for index, marker in enumerate(markers):
        struct.pack_into("<3f", image, 68 + 12 * index, *marker)
    struct.pack_into("<H", image, PLACEHOLDER_SIZE - 2, crc16(bytes(image[: PLACEHOLDER_SIZE - 2])))
    return bytes(image)


def builtin_roms() -> dict[str, bytes]:
    """Every built-in placeholder image, by tool name."""
    return {name: placeholder_rom(name, part, markers) for name, (part, markers) in BUILTIN_TOOLS.items()}


def write_builtin_roms(folder: Path = ROM_FOLDER) -> list[Path]:
    """(Re)write ``<name>.rom`` for every built-in tool; returns the paths written."""
    written = []
    for name, image in builtin_roms().items():
        path = folder / f"{name}.rom"
        path.write_bytes(image)
        written.append(path)
    return written


def resolve_rom(source: str) -> Path:
    """The file a ``tools:`` entry names: ``builtin:<name>`` in this folder, otherwise the path itself.

    Raises ``ValueError`` for an unknown built-in or a path that is not a file of 1..1024 bytes.
    """
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX) :]
        if name not in BUILTIN_TOOLS:
            raise ValueError(f"unknown built-in ROM {source!r}; expected one of {sorted(BUILTIN_TOOLS)}")
        path = ROM_FOLDER / f"{name}.rom"
    else:
        if not source.strip():
            raise ValueError("a ROM path must not be empty")
        path = Path(source).expanduser()
    if not path.is_file():
        raise ValueError(f"ROM file {str(path)!r} does not exist or is not a file")
    size = path.stat().st_size
    if not 1 <= size <= ROM_MAX_SIZE:
        raise ValueError(f"ROM file {str(path)!r} has {size} bytes; a tool definition has 1..{ROM_MAX_SIZE}")
    return path


def read_rom(source: str) -> bytes:
    """The bytes of the ROM a ``tools:`` entry names (checked as in ``resolve_rom``)."""
    image = resolve_rom(source).read_bytes()
    if not 1 <= len(image) <= ROM_MAX_SIZE:  # the file changed since it was checked
        raise ValueError(f"ROM {source!r} has {len(image)} bytes; a tool definition has 1..{ROM_MAX_SIZE}")
    return image


__all__ = [
    "BUILTIN_PREFIX",
    "BUILTIN_TOOLS",
    "PLACEHOLDER_SIZE",
    "ROM_FOLDER",
    "builtin_roms",
    "placeholder_rom",
    "read_rom",
    "resolve_rom",
    "write_builtin_roms",
]
