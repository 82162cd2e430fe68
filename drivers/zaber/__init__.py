"""Zaber ASCII protocol driver for motorised phantom stages (see docs/drivers/zaber-ascii.md).

``ZaberConnection`` is one daisy chain on one transport; ``ZaberAxis`` is one axis on it and satisfies
``drivers.roles.positioner.AxisPositioner``.
"""

from drivers.zaber.ascii import (
    REJECTION_REASONS,
    WARNING_FLAGS,
    ZaberReply,
    build_command,
    flag_severity,
    lrc,
    parse_reply,
)
from drivers.zaber.axis import STATES, TRANSITIONS, MotionTimeout, ZaberAxis
from drivers.zaber.connection import ZaberConnection

__all__ = [
    "REJECTION_REASONS",
    "STATES",
    "TRANSITIONS",
    "WARNING_FLAGS",
    "MotionTimeout",
    "ZaberAxis",
    "ZaberConnection",
    "ZaberReply",
    "build_command",
    "flag_severity",
    "lrc",
    "parse_reply",
]
