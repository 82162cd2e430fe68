"""Errors raised by the geometry library.

All derive from ``ValueError`` through :class:`GeometryError`, so a caller validating user input can catch one
type. Messages name the offending value and say what would make the call valid.
"""

from __future__ import annotations


class GeometryError(ValueError):
    """Base of every error raised by :mod:`geometry`."""


class FrameMismatchError(GeometryError):
    """Two values in different coordinate systems (or machine states) were combined without a transform."""


class MissingStateError(GeometryError):
    """A transform between systems was asked for without the machine state it depends on."""


class InvalidInputError(GeometryError):
    """Input of the wrong shape, too few samples for the parameters, or non-finite values."""


class DegenerateGeometryError(InvalidInputError):
    """Input whose geometry leaves the answer undefined: collinear points for a circle, parallel lines, …"""


class GimbalLockError(GeometryError):
    """A rotation sits at the singularity of the requested angle decomposition."""


class UnknownConventionError(GeometryError):
    """A scale, axis or patient position we have no sourced definition for; we refuse rather than guess."""


class AmbiguousConventionError(UnknownConventionError):
    """A convention we know of whose public descriptions disagree or are vendor configuration."""


class DicomMappingError(GeometryError):
    """A DICOM RT control point that cannot be mapped to an IEC 61217 machine state."""
