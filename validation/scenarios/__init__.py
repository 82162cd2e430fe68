"""One blind-test scenario per sequence, registered by name."""

from __future__ import annotations

from validation.scenario import Scenario

SCENARIOS: dict[str, Scenario] = {}


def register(scenario: Scenario) -> Scenario:
    if scenario.key in SCENARIOS:
        raise ValueError(f"scenario {scenario.key!r} registered twice")
    SCENARIOS[scenario.key] = scenario
    return scenario


def _load_all() -> None:
    """Import every scenario module so it registers itself (each module ends with ``register(...)``)."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")


_load_all()
