"""Live rigs: devices built from a rig file (real or simulated) behind their roles."""

from controller.rig.factory import Rig, build_rig

__all__ = ["Rig", "build_rig"]
