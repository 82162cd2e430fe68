"""Device roles: what the controller and sequences may ask of a device, whatever protocol it speaks.

A driver implements a role; the controller talks only to roles. Adding a new instrument means writing a
driver that satisfies one of these protocols and registering it (``drivers.registry``); nothing above
this layer changes.
"""

from drivers.roles.positioner import AxisPositioner

__all__ = ["AxisPositioner"]
