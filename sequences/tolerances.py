"""The tolerance library: every limit a verdict is judged by, its action level and its source, in one place.

Each sequence's ``PROFILES`` is built from ``LIBRARY`` (``profiles_for``), so the numbers live here only.
A *tolerance* (``Tolerance.limit``) is the level the decision rule judges against: a result beyond it is
acted on soon. An *action level* (``Tolerance.action_limit``) is the level beyond which the device leaves
clinical use until it is put right. The published reports hilcal cites tabulate one value per test, which
hilcal uses as the tolerance; none publishes a separate action level for these tests, so every action
level here is an engineering value (``ACTION_FACTOR`` × the tolerance) and says so. A site changes any of
them in a site tolerance file (``sequences.site_tolerances``). ``python -m sequences.tolerances`` prints
the table of docs/tolerances.md.
"""

from __future__ import annotations

import re
import sys
from enum import StrEnum
from typing import Any, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from controller.results import DecisionRule, Tolerance, ToleranceOverride


class Confidence(StrEnum):
    """How firm a limit is, in words a reader of a report understands (docs/tolerances.md)."""

    PUBLISHED = "published tolerance for this test"
    TRANSCRIBED = (
        "published tolerance for this test, taken from a transcription of the report's table; "
        "check it against the report before clinical use"
    )
    RELATED = "published or vendor limit of a closely related test, applied here by analogy"
    VENDOR = "vendor specification"
    DERIVED = "engineering value derived from a vendor specification; no published limit"
    ENGINEERING = "engineering value chosen by hilcal; no published limit"
    SITE = "site value set by the centre (its source and reason are recorded with the result)"


#: The action level where no publication gives one: this many times the library tolerance.
ACTION_FACTOR = 2.0
ACTION_SOURCE = (
    "engineering value chosen by hilcal: twice the library tolerance; no published action level for this test"
)

# ------------------------------------------------------------------------------------- the references
TG142 = (
    "AAPM TG-142: Klein E E et al., Task Group 142 report: Quality assurance of medical accelerators, "
    "Med. Phys. 36(9):4197–4212 (2009), doi:10.1118/1.3190392"
)
TG142_COUCH_MONTHLY = f"{TG142}, Table II (monthly), treatment couch position indicators"
TG142_ANNUAL = f"{TG142}, Table III (annual)"
TG224 = (
    "AAPM TG-224: Arjomandy B et al., AAPM task group 224: Comprehensive proton therapy machine quality "
    "assurance, Med. Phys. 46(8):e678–e705 (2019), doi:10.1002/mp.13622"
)
TG224_COUCH_WEEKLY = f"{TG224}, weekly mechanical QA table, couch position and angle (±1 mm, ±1°)"
TG106 = (
    "AAPM TG-106: Das I J et al., Accelerator beam data commissioning equipment and procedures, "
    "Med. Phys. 35(9):4186–4215 (2008), doi:10.1118/1.2969070"
)
TG51_ADDENDUM = (
    "TG-51 addendum: McEwen M et al., Addendum to the AAPM's TG-51 protocol for clinical reference dosimetry "
    "of high-energy photon beams, Med. Phys. 41(4):041501 (2014), doi:10.1118/1.4866223"
)
IEC_60976 = (
    "IEC 60976:2007 (Ed. 2.0) Medical electron accelerators — Functional performance characteristics, with "
    "the performance values of IEC/TR 60977:2008 (Ed. 2.0)"
)
ISO_230_2 = "ISO 230-2:2014, Test code for machine tools — Part 2 (bidirectional positioning accuracy)"
PPS_SPEC = (
    "LEONI robotic patient-positioning system specification (absolute accuracy 0.5 mm, 0.2°) as tabulated "
    "in Research Square preprint doi:10.21203/rs.3.rs-1673938/v1; the vendor data sheet itself (and its "
    "document number) was not available"
)
NDI_VEGA = (
    "Northern Digital Inc. Polaris Vega technical specifications, volumetric accuracy 0.12 mm RMS (also "
    "quoted in Research Square preprint doi:10.21203/rs.3.rs-1673938/v1); no document number available"
)
_TG106_NO_NUMBER = f"no published number ({TG106} asks for this check without one)"


def _tol(
    limit: float,
    unit: str,
    source: str,
    confidence: Confidence,
    action: float | None = None,
    action_source: str = ACTION_SOURCE,
) -> Tolerance:
    """A library tolerance; without a published action level, ``ACTION_FACTOR`` × the tolerance."""
    return Tolerance(
        limit=limit,
        unit=unit,
        source=source,
        confidence=confidence.value,
        action_limit=round(ACTION_FACTOR * limit, 9) if action is None else action,
        action_source=action_source,
    )


# -------------------------------------------------------------------------------------- data models
class ToleranceProfile(BaseModel):
    """A named set of limits of one sequence: the decision rule and one ``Tolerance`` field per metric.

    Each sequence subclasses it with its tolerance fields; ``overrides`` lists what a site tolerance file
    changed (copied to ``SequenceResult.tolerance_overrides``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    rule: DecisionRule = DecisionRule.GUARDED
    overrides: tuple[ToleranceOverride, ...] = ()

    @classmethod
    def tolerance_keys(cls) -> list[str]:
        return [
            name for name, field in cls.model_fields.items() if field.annotation in (Tolerance, "Tolerance")
        ]

    def tolerance(self, key: str) -> Tolerance:
        value = getattr(self, key)
        assert isinstance(value, Tolerance), key
        return value

    def with_tolerances(self, changed: dict[str, Tolerance], overrides: list[ToleranceOverride]) -> Self:
        """A copy with some tolerances replaced and the overrides that replaced them recorded."""
        data = self.model_dump()
        data.update({key: tol.model_dump() for key, tol in changed.items()})
        data["overrides"] = [o.model_dump() for o in (*self.overrides, *overrides)]
        return type(self).model_validate(data)


class MetricInfo(BaseModel):
    """Which verdicts one tolerance of a sequence judges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    verdicts: str = Field(description="regular expression matching the verdict metric names")
    applies_to: str = Field(description="the same, for a reader")


class LibraryProfile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: DecisionRule
    use: str = Field(description="when to choose this profile")
    tolerances: dict[str, Tolerance]


class SequenceLimits(BaseModel):
    """Every profile of one sequence, and which verdicts each of its tolerances judges."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    test: str
    default_profile: str
    metrics: dict[str, MetricInfo]
    profiles: dict[str, LibraryProfile]

    @model_validator(mode="after")
    def _complete(self) -> SequenceLimits:
        if self.default_profile not in self.profiles:
            raise ValueError(f"default profile {self.default_profile!r} is not among the profiles")
        for name, profile in self.profiles.items():
            if set(profile.tolerances) != set(self.metrics):
                raise ValueError(
                    f"profile {name!r} has {sorted(profile.tolerances)}, not {sorted(self.metrics)}"
                )
        return self

    def metric_for(self, verdict_metric: str) -> str | None:
        """The tolerance key that judges a verdict of this metric name (None: no tolerance covers it)."""
        for key, info in self.metrics.items():
            if re.fullmatch(info.verdicts, verdict_metric):
                return key
        return None


# ----------------------------------------------------------------------------------------- the library
def _couch_pair(
    translation: str, rotation: str, t_mm: float, r_deg: float, confidence: Confidence, use: str
) -> LibraryProfile:
    return LibraryProfile(
        rule=DecisionRule.GUARDED,
        use=use,
        tolerances={
            "translation": _tol(t_mm, "mm", translation, confidence),
            "rotation": _tol(r_deg, "deg", rotation, confidence),
        },
    )


def _couch_accuracy(limit: float, source: str, confidence: Confidence, use: str) -> LibraryProfile:
    repro = f"no separate repositioning limit is published; the positioning limit applies: {source}"
    return LibraryProfile(
        rule=DecisionRule.GUARDED,
        use=use,
        tolerances={
            "translation": _tol(limit, "mm", source, confidence),
            "indicator": _tol(limit, "mm", source, confidence),
            "reproducibility": _tol(limit, "mm", repro, Confidence.RELATED),
        },
    )


_T = Confidence.TRANSCRIBED
_SRS = " (SRS/SBRT column)"
_NON_SRS = " (non-SRS column)"

LIBRARY: dict[str, SequenceLimits] = {
    "phantom-axis-iso230": SequenceLimits(
        test="W1 water-tank (phantom) axis positioning, ISO 230-2 bidirectional",
        default_profile="clinical-suggested",
        metrics={
            "accuracy": MetricInfo(verdicts="A", applies_to="A (bidirectional accuracy)"),
            "repeatability": MetricInfo(verdicts="R", applies_to="R (bidirectional repeatability)"),
            "backlash": MetricInfo(verdicts="B", applies_to="B (reversal value)"),
        },
        profiles={
            "clinical-suggested": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="beam-data scanning tanks in clinical use",
                tolerances={
                    "accuracy": _tol(
                        0.5,
                        "mm",
                        f"0.5 mm over the travel; {_TG106_NO_NUMBER}; metric per {ISO_230_2}",
                        Confidence.ENGINEERING,
                    ),
                    "repeatability": _tol(
                        0.2,
                        "mm",
                        f"twice the ±0.1 mm reproducibility usual in scanner data sheets; "
                        f"{_TG106_NO_NUMBER}; metric per {ISO_230_2}",
                        Confidence.ENGINEERING,
                    ),
                    "backlash": _tol(
                        0.2,
                        "mm",
                        f"0.2 mm reversal; {_TG106_NO_NUMBER}; metric per {ISO_230_2}",
                        Confidence.ENGINEERING,
                    ),
                },
            ),
            "vendor-spec-class": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="acceptance of a new scanner against a ±0.1 mm class specification",
                tolerances={
                    "accuracy": _tol(
                        0.2,
                        "mm",
                        f"±0.1 mm accuracy class usual in scanner data sheets (no one vendor's "
                        f"document); metric per {ISO_230_2}",
                        Confidence.ENGINEERING,
                    ),
                    "repeatability": _tol(
                        0.2,
                        "mm",
                        f"±0.1 mm reproducibility class usual in scanner data sheets (no one "
                        f"vendor's document); metric per {ISO_230_2}",
                        Confidence.ENGINEERING,
                    ),
                    "backlash": _tol(
                        0.1,
                        "mm",
                        f"half the 0.2 mm clinical backlash value; metric per {ISO_230_2}",
                        Confidence.ENGINEERING,
                    ),
                },
            ),
        },
    ),
    "tracker-registration": SequenceLimits(
        test="optical tracker registered to IEC 61217 f on the registration phantom",
        default_profile="registration",
        metrics={"residual": MetricInfo(verdicts="residual", applies_to="residual (RMS fiducial residual)")},
        profiles={
            "registration": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="every tracker-based sequence's registration",
                tolerances={
                    "residual": _tol(
                        0.35,
                        "mm",
                        f"about 3 × the 0.12 mm RMS volumetric accuracy of the tracker: {NDI_VEGA}",
                        Confidence.DERIVED,
                    )
                },
            )
        },
    ),
    "water-tank-axes": SequenceLimits(
        test="W2 water-tank axis orthogonality, levelling and beam-axis alignment in IEC 61217 f",
        default_profile="tg106-suggested",
        metrics={
            "orthogonality": MetricInfo(verdicts="orthogonality", applies_to="orthogonality"),
            "level": MetricInfo(verdicts="level", applies_to="level"),
            "beam_axis": MetricInfo(verdicts="beam_axis", applies_to="beam_axis"),
        },
        profiles={
            "tg106-suggested": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="beam-data scanning tanks (TG-106 asks for levelling and central-axis alignment)",
                tolerances={
                    "orthogonality": _tol(
                        0.2, "deg", f"0.2° between axes; {_TG106_NO_NUMBER}", Confidence.ENGINEERING
                    ),
                    "level": _tol(
                        0.1, "deg", f"0.1° from horizontal; {_TG106_NO_NUMBER}", Confidence.ENGINEERING
                    ),
                    "beam_axis": _tol(
                        0.19,
                        "deg",
                        f"1 mm centre shift over 300 mm depth (0.19°); {_TG106_NO_NUMBER}",
                        Confidence.ENGINEERING,
                    ),
                },
            )
        },
    ),
    "couch-pose-readback": SequenceLimits(
        test="C1/C4 couch position indicators against commanded IEC 61217 table-top poses",
        default_profile="tg142-monthly",
        metrics={
            "translation": MetricInfo(verdicts="Δt", applies_to="Δt (largest translation readback error)"),
            "rotation": MetricInfo(verdicts="Δθ", applies_to="Δθ (largest rotation readback error)"),
        },
        profiles={
            "tg142-monthly": _couch_pair(
                TG142_COUCH_MONTHLY + _NON_SRS,
                TG142_COUCH_MONTHLY + _NON_SRS,
                2.0,
                1.0,
                _T,
                "photon linac couch, conventional and IMRT treatments",
            ),
            "tg142-monthly-srs": _couch_pair(
                TG142_COUCH_MONTHLY + _SRS,
                TG142_COUCH_MONTHLY + _SRS,
                1.0,
                0.5,
                _T,
                "photon linac couch used for SRS/SBRT",
            ),
            "tg224-proton-weekly": _couch_pair(
                TG224_COUCH_WEEKLY, TG224_COUCH_WEEKLY, 1.0, 1.0, _T, "proton-therapy couch, weekly QA"
            ),
        },
    ),
    "couch-translation-accuracy": SequenceLimits(
        test="C1 + C2 couch translations against the tracker, and repositioning reproducibility",
        default_profile="tg142-monthly",
        metrics={
            "translation": MetricInfo(verdicts="Δ[XYZ]", applies_to="ΔX, ΔY, ΔZ (per IEC axis)"),
            "indicator": MetricInfo(verdicts="Δindicator", applies_to="Δindicator (readback − tracker)"),
            "reproducibility": MetricInfo(verdicts="R95", applies_to="R95 (C2 repositioning)"),
        },
        profiles={
            "tg142-monthly": _couch_accuracy(
                2.0,
                TG142_COUCH_MONTHLY + _NON_SRS,
                _T,
                "photon linac couch, conventional and IMRT treatments",
            ),
            "tg142-monthly-srs": _couch_accuracy(
                1.0, TG142_COUCH_MONTHLY + _SRS, _T, "photon linac couch used for SRS/SBRT"
            ),
            "tg224-proton-weekly": _couch_accuracy(
                1.0, TG224_COUCH_WEEKLY, _T, "proton-therapy couch, weekly QA"
            ),
            "vendor-pps": _couch_accuracy(
                0.5, PPS_SPEC, Confidence.VENDOR, "robotic patient positioner against its specification"
            ),
        },
    ),
    "couch-rotation-walkout": SequenceLimits(
        test="C3 couch isocentric-rotation axis offset from the isocentre (walkout)",
        default_profile="tg142-annual",
        metrics={"walkout": MetricInfo(verdicts="walkout", applies_to="walkout")},
        profiles={
            name: LibraryProfile(
                rule=DecisionRule.GUARDED,
                use=use,
                tolerances={
                    "walkout": _tol(
                        1.0, "mm", f"{TG142_ANNUAL}, couch rotation isocenter, ±1 mm from baseline", _T
                    )
                },
            )
            for name, use in (
                ("tg142-annual", "annual QA of a photon linac couch"),
                ("tg142-annual-guarded", "the same limit (kept for sessions that name it)"),
            )
        },
    ),
    "couch-rotation-accuracy": SequenceLimits(
        test="C4 couch pitch, roll and yaw with isocentric compensation against the tracker",
        default_profile="tg142-monthly",
        metrics={
            "angle": MetricInfo(verdicts="Δ(yaw|pitch|roll)", applies_to="Δyaw, Δpitch, Δroll"),
            "isocentre": MetricInfo(
                verdicts="Δiso", applies_to="Δiso (residual translation of the iso point)"
            ),
        },
        profiles={
            "tg142-monthly": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="photon linac 6-DoF couch top, conventional and IMRT treatments",
                tolerances={
                    "angle": _tol(1.0, "deg", TG142_COUCH_MONTHLY + _NON_SRS, _T),
                    "isocentre": _tol(2.0, "mm", TG142_COUCH_MONTHLY + _NON_SRS, Confidence.RELATED),
                },
            ),
            "tg142-monthly-srs": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="photon linac 6-DoF couch top used for SRS/SBRT",
                tolerances={
                    "angle": _tol(0.5, "deg", TG142_COUCH_MONTHLY + _SRS, _T),
                    "isocentre": _tol(1.0, "mm", TG142_COUCH_MONTHLY + _SRS, Confidence.RELATED),
                },
            ),
            "tg224-proton-weekly": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="proton-therapy couch, weekly QA",
                tolerances={
                    "angle": _tol(1.0, "deg", TG224_COUCH_WEEKLY, _T),
                    "isocentre": _tol(1.0, "mm", TG224_COUCH_WEEKLY, Confidence.RELATED),
                },
            ),
            "vendor-pps": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="robotic patient positioner against its specification",
                tolerances={
                    "angle": _tol(0.2, "deg", PPS_SPEC, Confidence.VENDOR),
                    "isocentre": _tol(0.5, "mm", PPS_SPEC, Confidence.VENDOR),
                },
            ),
        },
    ),
    "couch-load-positioning": SequenceLimits(
        test="C5/C6 couch sag, tilt and positioning error under load",
        default_profile="tg142-annual",
        metrics={
            "sag": MetricInfo(verdicts="sag", applies_to="sag"),
            "tilt": MetricInfo(verdicts="tilt", applies_to="tilt (pitch or roll change)"),
            "positioning": MetricInfo(verdicts=r"E95@.+kg", applies_to="E95@<mass>kg (one per payload case)"),
        },
        profiles={
            "tg142-annual": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="annual QA of a photon linac couch",
                tolerances={
                    "sag": _tol(2.0, "mm", f"{TG142_ANNUAL}, table top sag, 2 mm from baseline", _T),
                    "tilt": _tol(1.0, "deg", f"{TG142_ANNUAL}, table angle, 1°", _T),
                    "positioning": _tol(2.0, "mm", TG142_COUCH_MONTHLY + _NON_SRS, Confidence.RELATED),
                },
            ),
            "iec-60976": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="acceptance test of a couch to the IEC load case",
                tolerances={
                    "sag": _tol(
                        5.0,
                        "mm",
                        f"{IEC_60976}: patient-support deflection under the 135 kg load case, "
                        "Δz < 5 mm (acceptance)",
                        _T,
                    ),
                    "tilt": _tol(
                        0.5, "deg", f"{IEC_60976}: patient-support roll under load < 0.5° (acceptance)", _T
                    ),
                    "positioning": _tol(
                        2.0,
                        "mm",
                        f"the IEC documents give no limit; {TG142_COUCH_MONTHLY}{_NON_SRS}",
                        Confidence.RELATED,
                    ),
                },
            ),
            "tg224-proton": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="proton-therapy couch",
                tolerances={
                    "sag": _tol(1.0, "mm", TG224_COUCH_WEEKLY, Confidence.RELATED),
                    "tilt": _tol(1.0, "deg", TG224_COUCH_WEEKLY, Confidence.RELATED),
                    "positioning": _tol(1.0, "mm", TG224_COUCH_WEEKLY, _T),
                },
            ),
            "vendor-pps": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="robotic patient positioner against its specification",
                tolerances={
                    "sag": _tol(0.5, "mm", PPS_SPEC, Confidence.RELATED),
                    "tilt": _tol(0.2, "deg", PPS_SPEC, Confidence.RELATED),
                    "positioning": _tol(0.5, "mm", PPS_SPEC, Confidence.VENDOR),
                },
            ),
        },
    ),
    "electrometer-leakage-reproducibility": SequenceLimits(
        test="D1 + D3 electrometer and chamber leakage, and reading reproducibility",
        default_profile="reference-class",
        metrics={
            "leakage": MetricInfo(verdicts="leakage", applies_to="leakage (% of the signal)"),
            "reproducibility": MetricInfo(verdicts="CoV", applies_to="CoV (reading reproducibility)"),
        },
        profiles={
            "reference-class": LibraryProfile(
                rule=DecisionRule.GUARDED,
                use="reference-class chamber and electrometer used for reference dosimetry",
                tolerances={
                    "leakage": _tol(
                        0.1,
                        "%",
                        f"{TG51_ADDENDUM}, Table II (reference-class chamber specification): "
                        "leakage < 0.1 % of the reading",
                        Confidence.PUBLISHED,
                    ),
                    "reproducibility": _tol(
                        0.5,
                        "%",
                        f"{IEC_60976}: dose-monitoring-system reproducibility, coefficient of "
                        "variation of 10 readings ≤ 0.5 %",
                        Confidence.RELATED,
                    ),
                },
            )
        },
    ),
}

TG51 = (
    "AAPM TG-51: Almond P R et al., AAPM's TG-51 protocol for clinical reference dosimetry of high-energy "
    "photon and electron beams, Med. Phys. 26(9):1847–1870 (1999), doi:10.1118/1.598691"
)
KRY_2012 = (
    "Kry S F et al., Ion recombination correction factors (P_ion) for Varian TrueBeam high-dose-rate "
    "therapy beams, J. Appl. Clin. Med. Phys. 13(6):318–325 (2012), doi:10.1120/jacmp.v13i6.3803"
)
LIBRARY["chamber-polarity-recombination"] = SequenceLimits(
    test="D5 + D6 chamber polarity effect P_pol and ion recombination P_ion (two- and three-voltage)",
    default_profile="reference-class",
    metrics={
        "polarity": MetricInfo(verdicts="P_pol", applies_to="|P_pol − 1| (polarity effect)"),
        "recombination": MetricInfo(verdicts="P_ion", applies_to="P_ion − 1 (TG-51 two-voltage)"),
        "linearity": MetricInfo(
            verdicts="Jaffé", applies_to="|P_ion(V_H, V_L) − P_ion(V_H, V_M)| (linearity in 1/V)"
        ),
        "methods": MetricInfo(verdicts="methods", applies_to="|TG-51 P_ion − TRS-398 k_s|"),
    },
    profiles={
        "reference-class": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="reference-class chamber used for reference dosimetry",
            tolerances={
                "polarity": _tol(
                    0.4,
                    "%",
                    f"{TG51_ADDENDUM}, Table II (reference-class chamber specification): polarity "
                    "correction within 0.4 % of unity",
                    Confidence.PUBLISHED,
                ),
                "recombination": _tol(
                    5.0,
                    "%",
                    f"{TG51}, section on P_ion: a chamber with P_ion above 1.05 is not to be used for "
                    "reference dosimetry",
                    Confidence.PUBLISHED,
                ),
                "linearity": _tol(
                    0.3,
                    "%",
                    f"{KRY_2012}: two-voltage P_ion within 0.3 % of the Jaffé-plot value for the "
                    "chambers studied, applied here as the limit on the two-voltage results' spread",
                    Confidence.RELATED,
                ),
                "methods": _tol(
                    0.1,
                    "%",
                    f"engineering value chosen by hilcal; no published limit. Compares the two-voltage "
                    f"formulations of {TG51} and IAEA TRS-398 (2000), Absorbed dose determination in "
                    "external beam radiotherapy, Technical Reports Series No. 398, from the same readings",
                    Confidence.ENGINEERING,
                ),
            },
        )
    },
)

_TG142_MU_LINEARITY = (
    f"{TG142_ANNUAL}, dosimetry: X-ray monitor unit linearity (output constancy) ±2 % for ≥ 5 MU"
)
LIBRARY["electrometer-linearity"] = SequenceLimits(
    test="D2 chamber and electrometer charge linearity with delivered dose",
    default_profile="tg142-annual",
    metrics={
        "linearity": MetricInfo(
            verdicts="linearity", applies_to="largest deviation of a dose level from the fitted line"
        )
    },
    profiles={
        "tg142-annual": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="annual check of the chamber + electrometer response against dose on a linac beam",
            tolerances={
                "linearity": _tol(
                    2.0,
                    "%",
                    f"{_TG142_MU_LINEARITY}; applied to the measuring chain's charge against delivered dose",
                    Confidence.RELATED,
                )
            },
        )
    },
)
LIBRARY["electrometer-end-effect"] = SequenceLimits(
    test="D4 timer end effect: dose delivered outside the nominal beam time",
    default_profile="tg142-annual",
    metrics={
        "end_effect": MetricInfo(
            verdicts="end_effect", applies_to="size of the end effect, % of the shortest clinical delivery"
        )
    },
    profiles={
        "tg142-annual": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="annual check of a linac's beam-on/off end effect with a chamber and electrometer",
            tolerances={
                "end_effect": _tol(
                    2.0,
                    "%",
                    f"{_TG142_MU_LINEARITY}; no published end-effect limit, so the end effect may take at "
                    "most this share of the shortest clinical delivery (5 MU)",
                    Confidence.RELATED,
                )
            },
        )
    },
)

_TG224_PBS = f"{TG224}, pencil-beam scanning column"
LIBRARY["proton-lateral-profile"] = SequenceLimits(
    test="proton pencil-beam spot position and size (sigma) in water from lateral profiles, against baseline",
    default_profile="tg224-annual",
    metrics={
        "position": MetricInfo(
            verdicts=r"Δ[xy]@.+mm",
            applies_to="Δx@<depth>, Δy@<depth> (spot centre from its baseline position)",
        ),
        "size": MetricInfo(
            verdicts=r"Δσ[xy]@.+mm", applies_to="Δσx@<depth>, Δσy@<depth> (spot sigma from its baseline, %)"
        ),
    },
    profiles={
        "tg224-annual": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="annual QA of a pencil-beam scanning proton beam: spot position and size in water",
            tolerances={
                "position": _tol(
                    1.0, "mm", f"{_TG224_PBS}, Table 4 (annual): spot position, 1 mm absolute", _T
                ),
                "size": _tol(10.0, "%", f"{_TG224_PBS}, Table 4 (annual): spot size, ±10 % of baseline", _T),
            },
        ),
        "tg224-daily": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="daily spot-position constancy of a pencil-beam scanning proton beam",
            tolerances={
                "position": _tol(
                    2.0, "mm", f"{_TG224_PBS}, Table 1 (daily): spot position, ±2 mm absolute", _T
                ),
                "size": _tol(
                    10.0,
                    "%",
                    f"{_TG224_PBS}, Table 3 (monthly): spot size, ±10 % of baseline (the daily table has no "
                    "spot-size check)",
                    Confidence.RELATED,
                ),
            },
        ),
    },
)

_TG224_RANGE = f"{TG224}, pencil-beam scanning column"
LIBRARY["proton-range-check"] = SequenceLimits(
    test="proton range: distal R90 and R80 of a water-tank depth scan against their baselines",
    default_profile="tg224-daily",
    metrics={
        "r90": MetricInfo(verdicts="ΔR90", applies_to="ΔR90 (|R90 − baseline|, distal 90 % depth)"),
        "r80": MetricInfo(verdicts="ΔR80", applies_to="ΔR80 (|R80 − baseline|, distal 80 % depth)"),
    },
    profiles={
        name: LibraryProfile(
            rule=DecisionRule.GUARDED,
            use=use,
            tolerances={
                "r90": _tol(1.0, "mm", f"{_TG224_RANGE}, {table}: {check}, ±1 mm from baseline", _T),
                "r80": _tol(
                    1.0,
                    "mm",
                    f"{_TG224_RANGE}, {table}: {check}, ±1 mm from baseline; TG-224 states range at the "
                    "distal 90 % depth, applied here to the distal 80 % depth by analogy",
                    Confidence.RELATED,
                ),
            },
        )
        for name, use, table, check in (
            (
                "tg224-daily",
                "daily range constancy of one energy of a pencil-beam scanning proton beam",
                "Table 1 (daily)",
                "distal range at 90 % depth",
            ),
            (
                "tg224-monthly",
                "monthly range check, one run per energy spanning the clinical range",
                "Table 3 (monthly)",
                "range at several energies spanning the clinical range",
            ),
        )
    },
)
_TG224_OUTPUT = f"{TG224}, pencil-beam scanning column"
LIBRARY["proton-output-constancy"] = SequenceLimits(
    test="proton output constancy: k_TP-corrected chamber charge at the reference depth against its baseline",
    default_profile="tg224-daily",
    metrics={"output": MetricInfo(verdicts="output", applies_to="output (|charge − baseline|, %)")},
    profiles={
        "tg224-daily": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="daily output constancy: one energy at one gantry angle, chamber at the reference depth",
            tolerances={
                "output": _tol(3.0, "%", f"{_TG224_OUTPUT}, Table 1 (daily): output constancy, ±3 %", _T)
            },
        ),
        "tg224-monthly": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="monthly output constancy, one run per gantry angle",
            tolerances={
                "output": _tol(
                    2.0,
                    "%",
                    f"{_TG224_OUTPUT}, Table 3 (monthly): output constancy at several gantry angles, ±2 %",
                    _T,
                )
            },
        ),
    },
)

LIBRARY["chamber-cross-calibration"] = SequenceLimits(
    test="D8 cross-calibration of a field chamber against a reference chamber (alternating positions)",
    default_profile="tg142-annual",
    metrics={
        "reproducibility": MetricInfo(
            verdicts="CoV_ratio", applies_to="CoV of the ratio of the two chambers' readings of one delivery"
        ),
        "coefficient_change": MetricInfo(
            verdicts="coefficient_change", applies_to="|N_field/N_previous − 1| (transferred coefficient)"
        ),
    },
    profiles={
        "tg142-annual": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="annual transfer of a reference chamber's coefficient to a field chamber on a linac beam",
            tolerances={
                "reproducibility": _tol(
                    0.5,
                    "%",
                    f"{IEC_60976}: dose-monitoring-system reproducibility, coefficient of variation of 10 "
                    "readings ≤ 0.5 %, applied to the ratio of two chambers' readings of one delivery",
                    Confidence.RELATED,
                ),
                "coefficient_change": _tol(
                    1.0,
                    "%",
                    f"{TG142_ANNUAL}, dosimetry: reference dosimetry (TG-51) ±1 %; a field chamber whose "
                    "coefficient moved by more would move every output it measures by as much",
                    Confidence.RELATED,
                ),
            },
        )
    },
)
LIBRARY["air-density-stability"] = SequenceLimits(
    test="k_TP over a session: drift of the room air's temperature and pressure",
    default_profile="engineering",
    metrics={
        "drift": MetricInfo(
            verdicts="k_TP_drift", applies_to="change of k_TP over the measurement (fitted line), %"
        )
    },
    profiles={
        "engineering": LibraryProfile(
            rule=DecisionRule.GUARDED,
            use="a session of chamber readings corrected with air readings taken at its start",
            tolerances={
                "drift": _tol(
                    0.1,
                    "%",
                    f"engineering value chosen by hilcal; no published limit. {TG51}, section on P_TP, and "
                    "IAEA TRS-398 (2000), Absorbed dose determination in external beam radiotherapy, "
                    "Technical Reports Series No. 398, section on k_TP, require T and P at the time of the "
                    "measurement and state no limit on their drift; 0.1 % is the k_TP change of a 0.3 °C or "
                    "0.1 kPa change of the air",
                    Confidence.ENGINEERING,
                )
            },
        )
    },
)

ProfileT = TypeVar("ProfileT", bound=ToleranceProfile)


def profiles_for(sequence: str, model: type[ProfileT]) -> dict[str, ProfileT]:
    """A sequence's named profiles, built from the library (the sequence module holds no numbers)."""
    entry = LIBRARY[sequence]
    if set(model.tolerance_keys()) != set(entry.metrics):
        raise TypeError(f"{model.__name__} has {model.tolerance_keys()}, the library {sorted(entry.metrics)}")
    return {
        name: model(name=name, rule=profile.rule, **profile.tolerances)
        for name, profile in entry.profiles.items()
    }


# ------------------------------------------------------------------------------------------ docs table
def _number(value: float | None, unit: str) -> str:
    return "—" if value is None else f"{value:g} {unit}"


def markdown_table() -> str:
    """Every sequence, profile and tolerance: action level, source, confidence (docs/tolerances.md)."""
    lines = [
        "| Sequence | Profile | Tolerance (verdicts) | Tolerance level | Action level | Rule | Source | "
        "Confidence | Action-level source |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for sequence, entry in LIBRARY.items():
        for name, profile in entry.profiles.items():
            label = f"`{name}`" + (" (default)" if name == entry.default_profile else "")
            for key, tol in profile.tolerances.items():
                cells: list[Any] = [
                    f"`{sequence}`",
                    label,
                    f"`{key}` ({entry.metrics[key].applies_to})",
                    _number(tol.limit, tol.unit),
                    _number(tol.action_limit, tol.unit),
                    profile.rule.value,
                    tol.source,
                    tol.confidence,
                    tol.action_source or "—",
                ]
                lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def sequence_table(sequence: str) -> str:
    """One sequence's profiles, tolerance and action levels (the tolerance section of its docs page)."""
    entry = LIBRARY[sequence]
    lines = [
        "| Profile | Tolerance (verdicts) | Tolerance level | Action level | Rule | Confidence |",
        "|---|---|---|---|---|---|",
    ]
    for name, profile in entry.profiles.items():
        label = f"`{name}`" + (" (default)" if name == entry.default_profile else "")
        for key, tol in profile.tolerances.items():
            cells = [
                label,
                f"`{key}` ({entry.metrics[key].applies_to})",
                _number(tol.limit, tol.unit),
                _number(tol.action_limit, tol.unit),
                profile.rule.value,
                tol.confidence,
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown_table())
