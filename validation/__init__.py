"""Blind validation campaigns: seeded rigs with known injected errors, scored against the truth.

A sequence claims a value, an expanded uncertainty U and a verdict. This package tests the claim the only
way it can be tested: over many simulated rigs whose errors are drawn at random from declared
distributions, with the true value of every scored metric computed from the injected errors by a model
of its own (never by the simulator or the sequence). ``validation.scenarios`` holds one scenario per
sequence; ``validation.campaign`` runs them (on Dask) and scores coverage, bias and decision risk.
"""
