"""Zaber ASCII protocol front-end: a chain of simulated devices whose axes are stages in the world."""

from simulators.zaber.chain import ZaberChainSimulator, ZaberSession
from simulators.zaber.device import ZaberDeviceSim
from simulators.zaber.protocol import Command, format_reply, lrc, parse_command

__all__ = [
    "Command",
    "ZaberChainSimulator",
    "ZaberDeviceSim",
    "ZaberSession",
    "format_reply",
    "lrc",
    "parse_command",
]
