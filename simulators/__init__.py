"""Simulated instruments for hardware-in-the-loop runs without hardware.

Layers: ``clock`` (virtual or real time) → ``world`` (one coupled physical world of named models, e.g.
``stage.LinearStage``) → protocol front-ends (``zaber``: bytes in, replies out) → ``serve`` (pty / TCP).
``rig.SimulatedRig`` builds all of it from one ``SimulationConfig``. Nothing here imports the drivers: both
sides implement the vendor manuals independently, so a misreading on one side shows up against the other.
"""
