"""Guards: unit mix-ups, reference conditions that contradict the certificate, and sanity bounds."""

from __future__ import annotations

import pytest

from dosimetry import (
    TG51_REFERENCE,
    TRS398_KS_PULSED,
    TRS398_REFERENCE,
    TRS398_REFERENCE_22C,
    ChamberCalibration,
    DosimetryError,
    ElectrometerCalibration,
    ImplausibleUnitError,
    OutOfSanityBound,
    ReferenceConditionMismatch,
    UnsupportedInput,
    check_pressure_kpa,
    check_temperature_c,
    corrected_reading,
    dose_to_water,
    fahrenheit_to_celsius,
    hpa_to_kpa,
    k_s_trs398,
    k_tp,
    kelvin_to_celsius,
    leakage_current_a,
    mbar_to_kpa,
    p_ion_tg51,
    p_pol,
    psi_to_kpa,
)

CERT_20C = ChamberCalibration(
    chamber="PTW 30013 #1234", n_dw_gy_per_c=5.45e7, reference=TRS398_REFERENCE, certificate="SSDL 2025-117"
)


# -- unit guards --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "needle"),
    [(71.6, "°F"), (295.15, "K"), (-5.0, "outside"), (40.0, "outside")],
)
def test_temperature_guard_names_the_likely_unit(value: float, needle: str) -> None:
    with pytest.raises(ImplausibleUnitError, match=needle):
        check_temperature_c(value)


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        (1013.25, "hPa"),
        (760.0, "mmHg"),
        (14.7, "psi"),
        (29.92, "inHg"),
        (101325.0, "Pa"),
        (1.013, "bar or atm"),
        (50.0, "outside"),
    ],
)
def test_pressure_guard_names_the_likely_unit(value: float, needle: str) -> None:
    with pytest.raises(ImplausibleUnitError, match=needle):
        check_pressure_kpa(value)


def test_guard_message_gives_the_converted_value() -> None:
    with pytest.raises(ImplausibleUnitError) as info:
        k_tp(22.0, 1013.25, reference=TG51_REFERENCE)
    assert "1013.25 hPa (= mbar), which is 101.33 kPa" in str(info.value)
    assert "hpa_to_kpa" in str(info.value)


def test_guards_pass_plausible_values_and_accept_a_site_band() -> None:
    assert check_temperature_c(21.5) == 21.5
    assert check_pressure_kpa(101.3) == 101.3
    with pytest.raises(ImplausibleUnitError):
        check_pressure_kpa(83.5)  # Denver-like station pressure fails the default band…
    assert check_pressure_kpa(83.5, band=(75.0, 90.0)) == 83.5  # …and passes the site's own


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(ImplausibleUnitError):
        check_temperature_c(float("nan"))
    with pytest.raises(ImplausibleUnitError):
        check_pressure_kpa(float("inf"))


def test_named_conversions() -> None:
    assert hpa_to_kpa(1013.25) == pytest.approx(101.325)
    assert mbar_to_kpa(1013.25) == pytest.approx(101.325)
    assert psi_to_kpa(14.6959) == pytest.approx(101.325, abs=1e-3)
    assert fahrenheit_to_celsius(71.6) == pytest.approx(22.0)
    assert kelvin_to_celsius(295.15) == pytest.approx(22.0)


# -- reference conditions vs certificate ---------------------------------------------------------------------
def test_k_tp_refuses_a_reference_other_than_the_certificates() -> None:
    with pytest.raises(ReferenceConditionMismatch, match=r"20 °C.*0\.68"):
        k_tp(22.0, 100.15, reference=TG51_REFERENCE, calibration=CERT_20C)
    with pytest.raises(ReferenceConditionMismatch):
        k_tp(22.0, 100.15, reference=TRS398_REFERENCE_22C, calibration=CERT_20C)
    assert k_tp(22.0, 100.15, reference=TRS398_REFERENCE, calibration=CERT_20C).k_tp == pytest.approx(
        1.01863, abs=5e-6
    )


def test_tg51_and_trs398_pressures_are_the_same_atmosphere() -> None:
    cert_22c = CERT_20C.model_copy(update={"reference": TRS398_REFERENCE_22C})
    assert k_tp(22.0, 100.15, reference=TG51_REFERENCE, calibration=cert_22c).k_tp > 0


def test_dose_needs_a_checked_reference() -> None:
    ion = p_ion_tg51(voltage_high_v=300, voltage_low_v=150, m_high=20.1, m_low=20.05, beam="pulsed")
    bare = corrected_reading(20e-9, k_tp=1.0, p_pol=1.0, p_ion=ion)
    with pytest.raises(ReferenceConditionMismatch, match="KtpResult"):
        dose_to_water(bare, CERT_20C)
    wrong = corrected_reading(20e-9, k_tp=k_tp(22, 101, reference=TG51_REFERENCE), p_pol=1.0, p_ion=ion)
    with pytest.raises(ReferenceConditionMismatch):
        dose_to_water(wrong, CERT_20C)
    right = corrected_reading(20e-9, k_tp=k_tp(22, 101, reference=TRS398_REFERENCE), p_pol=1.0, p_ion=ion)
    assert dose_to_water(right, CERT_20C).dose_gy == pytest.approx(right.m_corrected_c * 5.45e7)


def test_negative_polarity_readings_give_a_positive_dose() -> None:
    ktp = k_tp(20.0, 101.325, reference=TRS398_REFERENCE)
    reading = corrected_reading(-20.0, k_tp=ktp, p_pol=1.0, p_ion=1.0, unit="nC")
    assert dose_to_water(reading, CERT_20C).dose_gy == pytest.approx(20e-9 * 5.45e7)


def test_electrometer_calibration_enters_as_p_elec() -> None:
    elec = ElectrometerCalibration(electrometer="UNIDOS #77", k_elec=1.002)
    assert corrected_reading(10.0, k_tp=1.0, p_pol=1.0, p_ion=1.0, p_elec=elec).m_corrected == pytest.approx(
        10.02
    )


# -- sanity bounds and refusals ------------------------------------------------------------------------------
def test_p_ion_above_1_05_is_refused() -> None:
    with pytest.raises(OutOfSanityBound, match="P_ion"):
        p_ion_tg51(voltage_high_v=300, voltage_low_v=150, m_high=20.0, m_low=19.0, beam="pulsed")


def test_p_ion_below_one_is_refused_unless_bounds_are_lifted() -> None:
    with pytest.raises(OutOfSanityBound):
        p_ion_tg51(voltage_high_v=300, voltage_low_v=150, m_high=20.0, m_low=20.05, beam="pulsed")
    lifted = p_ion_tg51(
        voltage_high_v=300, voltage_low_v=150, m_high=20.0, m_low=20.05, beam="pulsed", bounds=None
    )
    assert lifted.factor < 1


def test_p_pol_outside_two_percent_is_refused() -> None:
    with pytest.raises(OutOfSanityBound):
        p_pol(20.0, -21.0)


def test_corrected_reading_refuses_an_implausible_factor() -> None:
    with pytest.raises(OutOfSanityBound, match="P_elec"):
        corrected_reading(1.0, k_tp=1.0, p_pol=1.0, p_ion=1.0, p_elec=1.05)
    with pytest.raises(OutOfSanityBound, match="k_TP"):
        corrected_reading(1.0, k_tp=1.2, p_pol=1.0, p_ion=1.0)


def test_k_s_ratio_not_in_the_table_is_refused() -> None:
    with pytest.raises(UnsupportedInput, match="2.4"):
        k_s_trs398(voltage_1_v=300, voltage_2_v=125, m_1=20.1, m_2=20.0, beam="pulsed")


def test_k_s_every_table_ratio_gives_one_for_equal_readings_within_rounding() -> None:
    for ratio in TRS398_KS_PULSED:
        result = k_s_trs398(voltage_1_v=300, voltage_2_v=300 / ratio, m_1=20.0, m_2=20.0, beam="pulsed")
        assert result.factor == pytest.approx(1.0, abs=1.5e-3)


def test_pulsed_scanned_needs_explicit_coefficients() -> None:
    with pytest.raises(UnsupportedInput, match="pulsed-scanned"):
        k_s_trs398(voltage_1_v=300, voltage_2_v=100, m_1=20.1, m_2=20.0, beam="pulsed-scanned")
    table = {3.0: (1.0, 0.0, 0.0)}
    result = k_s_trs398(
        voltage_1_v=300, voltage_2_v=100, m_1=20.1, m_2=20.0, beam="pulsed-scanned", coefficients=table
    )
    assert result.factor == 1.0


@pytest.mark.parametrize(
    ("high", "low"),
    [(150.0, 300.0), (300.0, -150.0), (300.0, 0.0), (float("nan"), 150.0)],
)
def test_bad_voltage_pairs_are_refused(high: float, low: float) -> None:
    with pytest.raises(DosimetryError):
        p_ion_tg51(voltage_high_v=high, voltage_low_v=low, m_high=20.1, m_low=20.0, beam="pulsed")


def test_negative_polarity_recombination_uses_magnitudes() -> None:
    result = p_ion_tg51(voltage_high_v=-300, voltage_low_v=-150, m_high=-20.10, m_low=-20.05, beam="pulsed")
    assert round(result.factor, 4) == 1.0025


def test_empty_or_non_finite_readings_are_refused() -> None:
    with pytest.raises(DosimetryError):
        p_pol([], -20.0)
    with pytest.raises(DosimetryError):
        p_pol(float("nan"), -20.0)
    with pytest.raises(DosimetryError):
        p_pol(0.0, -20.0)


def test_leakage_current_from_two_dark_readings() -> None:
    assert leakage_current_a(1.0e-13, 4.0e-13, 60.0) == pytest.approx(5e-15)
    with pytest.raises(DosimetryError):
        leakage_current_a(0.0, 1e-13, 0.0)


def test_results_are_frozen_and_keep_inputs() -> None:
    result = k_tp(22.0, 101.33, reference=TG51_REFERENCE)
    assert (result.temperature_c, result.pressure_kpa) == (22.0, 101.33)
    with pytest.raises(Exception, match="frozen"):
        result.k_tp = 2.0  # type: ignore[misc]
