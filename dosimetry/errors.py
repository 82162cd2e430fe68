"""Errors raised by the dosimetry corrections.

All derive from ``ValueError`` through :class:`DosimetryError`, so a caller checking operator input can catch
one type. Each message names the value, what was expected, and (where we can tell) the likely mistake.
"""

from __future__ import annotations


class DosimetryError(ValueError):
    """Base of every error raised by :mod:`dosimetry`."""


class ImplausibleUnitError(DosimetryError):
    """A temperature or pressure outside its plausible band: almost always a unit mix-up (°F, mmHg, hPa…)."""


class ReferenceConditionMismatch(DosimetryError):
    """A correction or dose computed for reference conditions other than the chamber certificate's."""


class OutOfSanityBound(DosimetryError):
    """A correction factor outside the band where it can still be a correction (e.g. P_ion > 1.05)."""


class UnsupportedInput(DosimetryError):
    """A request our verified sources do not cover (e.g. a voltage ratio absent from the k_s table)."""
