"""``python -m drivers.ndi.roms``: rewrite the built-in placeholder ROM files."""

from drivers.ndi.roms import write_builtin_roms

for written in write_builtin_roms():
    print(written)
