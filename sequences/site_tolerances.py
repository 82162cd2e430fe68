"""A site tolerance file: a centre's own tolerance and action levels, each with its source and reason.

```yaml
site: Example Cancer Centre physics          # optional; recorded with every override
overrides:
  phantom-axis-iso230:                       # sequence
    clinical-suggested:                      # profile (docs/tolerances.md lists them)
      accuracy:                              # tolerance name
        limit: 0.4                           # tolerance level (optional if action_limit is given)
        action_limit: 0.8                    # action level (optional)
        unit: mm                             # optional; must match the library's unit when given
        source: Departmental QA policy QP-07 rev. 3, section 4.2
        reason: our scanner is specified to ±0.1 mm; 0.5 mm hides a failing lead screw
```

Unknown sequences, profiles or tolerance names, a missing source or reason, and an action level below the
tolerance are bad input (``ConfigError``: file, field, value and expectation). ``apply_site_tolerances``
gives a run's parameters a ``profile_override`` carrying the changed limits and the record of each change,
which the sequence's analysis copies to ``SequenceResult.tolerance_overrides``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controller.config import read_structured_file
from controller.errors import ConfigError, describe_validation_errors
from controller.results import Tolerance, ToleranceOverride
from sequences.tolerances import LIBRARY, Confidence, ToleranceProfile


class MetricOverride(BaseModel):
    """A site's value for one tolerance: a new tolerance and/or action level, with source and reason."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    limit: float | None = Field(default=None, gt=0, description="new tolerance level")
    action_limit: float | None = Field(default=None, gt=0, description="new action level")
    unit: str | None = Field(default=None, description="the library's unit, stated as a check")
    source: str = Field(min_length=3, description="the site document the value comes from")
    reason: str = Field(min_length=3, description="why the site departs from the library value")

    @model_validator(mode="after")
    def _changes_something(self) -> MetricOverride:
        if self.limit is None and self.action_limit is None:
            raise ValueError("give limit, action_limit or both")
        return self


class SiteTolerances(BaseModel):
    """A validated site tolerance file: sequence → profile → tolerance name → override."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    site: str = ""
    overrides: dict[str, dict[str, dict[str, MetricOverride]]] = Field(default_factory=dict)
    #: Where it was read from (set by ``load_site_tolerances``; recorded with every override).
    file: str = "site tolerances"


def _library_problems(site: SiteTolerances) -> list[str]:
    """Every override checked against the library: names exist, units agree, action ≥ tolerance."""
    problems: list[str] = []
    for sequence, profiles in site.overrides.items():
        entry = LIBRARY.get(sequence)
        if entry is None:
            problems.append(f"overrides.{sequence}: unknown sequence; expected one of {sorted(LIBRARY)}")
            continue
        for profile, metrics in profiles.items():
            library_profile = entry.profiles.get(profile)
            if library_profile is None:
                problems.append(
                    f"overrides.{sequence}.{profile}: unknown profile of {sequence}; expected one of "
                    f"{sorted(entry.profiles)}"
                )
                continue
            for metric, change in metrics.items():
                where = f"overrides.{sequence}.{profile}.{metric}"
                base = library_profile.tolerances.get(metric)
                if base is None:
                    problems.append(
                        f"{where}: unknown tolerance of {sequence}; expected one of {sorted(entry.metrics)}"
                    )
                    continue
                if change.unit is not None and change.unit != base.unit:
                    problems.append(f"{where}.unit = {change.unit!r}: expected {base.unit!r} (the library's)")
                try:
                    changed_tolerance(base, change, site)
                except ValueError as err:
                    problems.append(f"{where}: {err}")
    return problems


def changed_tolerance(base: Tolerance, change: MetricOverride, site: SiteTolerances) -> Tolerance:
    """``base`` with the site's values; raises ValueError when the action level ends below the tolerance."""
    limit = base.limit if change.limit is None else change.limit
    action = base.action_limit if change.action_limit is None else change.action_limit
    if action is not None and action < limit:
        given = "action_limit" if change.action_limit is not None else f"the library action level {action:g}"
        raise ValueError(
            f"{given} is below the tolerance limit {limit:g} {base.unit}; expected an action level ≥ the "
            "tolerance (give action_limit too)"
        )
    data: dict[str, Any] = base.model_dump()
    data.update(limit=limit, action_limit=action)
    if change.limit is not None:
        data.update(source=f"site: {change.source}", confidence=Confidence.SITE.value)
    if change.action_limit is not None:
        data.update(action_source=f"site: {change.source}")
    return Tolerance.model_validate(data)


def parse_site_tolerances(raw: dict[str, Any], file: str) -> SiteTolerances:
    """Validate a site tolerance mapping (read from ``file``) against the schema and the library."""
    source = f"tolerance file {file!r}"
    try:
        site = SiteTolerances.model_validate({**raw, "file": file})
    except ValidationError as err:
        raise ConfigError(source, describe_validation_errors(err.errors())) from err
    problems = _library_problems(site)
    if problems:
        raise ConfigError(source, problems)
    return site


def load_site_tolerances(path: Path) -> SiteTolerances:
    """Read and validate a site tolerance file (YAML or TOML)."""
    raw = read_structured_file(path)
    if "file" in raw:
        raise ConfigError(f"tolerance file {str(path)!r}", ["file: unknown field (not part of the schema)"])
    return parse_site_tolerances(raw, str(path))


ParamsT = TypeVar("ParamsT", bound=BaseModel)


def apply_site_tolerances(sequence: str, params: ParamsT, site: SiteTolerances | None) -> ParamsT:
    """``params`` with the site's overrides of the profile they use, as a ``profile_override``.

    The overrides of other profiles and sequences do not apply and are left out; parameters whose profile
    has none come back unchanged.
    """
    if site is None:
        return params
    profile: ToleranceProfile = params.tolerance_profile()  # type: ignore[attr-defined]
    changes = site.overrides.get(sequence, {}).get(profile.name, {})
    if not changes:
        return params
    metrics = LIBRARY[sequence].metrics
    replaced: dict[str, Tolerance] = {}
    records: list[ToleranceOverride] = []
    for key, change in changes.items():
        before = profile.tolerance(key)
        try:
            after = changed_tolerance(before, change, site)
        except ValueError as err:  # a params profile_override whose values differ from the library's
            raise ConfigError(
                f"tolerance file {site.file!r}", [f"overrides.{sequence}.{profile.name}.{key}: {err}"]
            ) from err
        replaced[key] = after
        records.append(
            ToleranceOverride(
                tolerance=key,
                applies_to=metrics[key].applies_to,
                unit=before.unit,
                limit_before=before.limit,
                limit_after=after.limit,
                action_limit_before=before.action_limit,
                action_limit_after=after.action_limit,
                source=change.source,
                reason=change.reason,
                file=site.file,
                site=site.site,
            )
        )
    updated = profile.with_tolerances(replaced, records)
    data = params.model_dump(mode="json")
    data["profile_override"] = updated.model_dump(mode="json")
    return type(params).model_validate(data)
