"""The plan check: what a run will use and whether the rig file allows it, decided before anything opens."""

from __future__ import annotations

import pytest

from controller.config import RigConfig, load_rig_config
from controller.errors import ConfigError
from controller.plan_check import check_plan
from controller.session import OPERATOR_DEVICE
from sequences import SEQUENCES, get_sequence

DEFAULT_PARAMS = {
    "electrometer-leakage-reproducibility": {},  # its own defaults must run on the built-in rig
}


def check(name: str, params: dict | None = None, config: RigConfig | None = None, **kwargs):
    sequence = get_sequence(name)
    return check_plan(
        config or load_rig_config(), sequence, sequence.parse_params(params or {}), source="test", **kwargs
    )


@pytest.mark.parametrize("name", sorted(SEQUENCES))
def test_every_sequence_with_its_defaults_passes_on_the_built_in_rig(name: str):
    result = check(name)
    assert result.devices and result.steps and result.steps > 0
    # The built-in rig's soft limits cover every stage; its couch limits only the rotations.
    assert result.deferred in ((), ("couch: device travel, checked at connect",))


@pytest.mark.parametrize(
    ("name", "params", "devices"),
    [
        ("phantom-axis-iso230", {}, {"phantom_x"}),
        ("water-tank-axes", {}, {"phantom_x", "phantom_y", "phantom_z", "tracker"}),
        ("tracker-registration", {}, {"tracker"}),
        ("couch-pose-readback", {}, {"couch"}),
        ("couch-translation-accuracy", {}, {"couch", "tracker"}),
        ("electrometer-leakage-reproducibility", {}, {"electrometer_6517b"}),
        (
            "electrometer-leakage-reproducibility",
            {"dosimeter": "electrometer_unidos", "range": "MEDIUM", "environment": "room_sensor"},
            {"electrometer_unidos", "room_sensor"},
        ),
    ],
)
def test_the_run_will_open_only_what_the_plan_uses(name: str, params: dict, devices: set[str]):
    assert check(name, params).devices == devices


def test_the_operator_entry_is_a_device_only_when_the_air_was_typed_in():
    params = {"environment": OPERATOR_DEVICE}
    with pytest.raises(ConfigError, match="environment = 'operator_entry': no such device"):
        check("electrometer-leakage-reproducibility", params)
    used = check(
        "electrometer-leakage-reproducibility", params, extra_devices={OPERATOR_DEVICE: "environment"}
    )
    assert OPERATOR_DEVICE in used.devices


def test_a_rig_without_a_registration_phantom_cannot_run_tracked_sequences():
    raw = load_rig_config().model_dump(mode="json")
    raw["tracker_registration"] = None
    with pytest.raises(ConfigError, match="tracker_registration: the rig 'default-simulated' has none"):
        check("couch-rotation-walkout", config=RigConfig.model_validate(raw))


def test_a_registration_fiducial_the_tracker_does_not_load_is_named():
    raw = load_rig_config().model_dump(mode="json")
    raw["tracker_registration"]["points_mm"]["reg_9"] = raw["tracker_registration"]["points_mm"].pop("reg_4")
    with pytest.raises(ConfigError, match="tracker_registration.points_mm = 'reg_9'"):
        check("tracker-registration", config=RigConfig.model_validate(raw))


def test_an_axis_without_soft_limits_is_walked_after_connect():
    raw = load_rig_config().model_dump(mode="json")
    raw["devices"]["phantom_x"]["soft_limits_mm"] = None
    result = check("phantom-axis-iso230", config=RigConfig.model_validate(raw))
    assert result.steps is None and result.devices == {"phantom_x"}
    assert result.deferred == ("phantom_x: device travel, checked at connect",)


def test_a_couch_limited_on_every_axis_in_the_rig_file_waits_for_nothing():
    assert check("couch-pose-readback").deferred == ("couch: device travel, checked at connect",)
    raw = load_rig_config().model_dump(mode="json")
    translations = {"lateral_mm": [-50, 50], "longitudinal_mm": [-50, 50], "vertical_mm": [-50, 50]}
    raw["devices"]["couch"]["couch_limits"] = translations
    assert check("couch-pose-readback", config=RigConfig.model_validate(raw)).deferred == ()


def test_rig_couch_limits_narrow_the_driver_soft_limits():
    raw = load_rig_config().model_dump(mode="json")
    raw["devices"]["couch"]["couch_limits"] = {"pitch_deg": [-1.0, 1.0]}
    config = RigConfig.model_validate(raw)
    check("couch-pose-readback", {"poses": [{"pitch_deg": 0.5}]}, config=config)
    with pytest.raises(ConfigError, match=r"pitch_deg=2\).*driver soft limits ∩ rig couch limits"):
        check("couch-pose-readback", {"poses": [{"pitch_deg": 2.0}]}, config=config)


def _with_certificate(expires: str, policy: str = "warn") -> RigConfig:
    raw = load_rig_config().model_dump(mode="json")
    raw["expired_certificate"] = policy
    raw["devices"]["electrometer_6517b"]["certificate"] = {
        "id": "PSDL-2025-0417", "issuer": "a national standards lab", "coefficient": 5.38e7, "unit": "Gy/C",
        "issued": "2025-01-10", "expires": expires,
    }  # fmt: skip
    return RigConfig.model_validate(raw)


def test_an_expired_certificate_is_a_warning_or_a_refusal_by_site_rule():
    d1 = "electrometer-leakage-reproducibility"
    assert check(d1, config=_with_certificate("2099-01-01")).warnings == ()
    warned = check(d1, config=_with_certificate("2026-01-10"))
    assert (
        warned.warnings
        and "PSDL-2025-0417" in warned.warnings[0]
        and "expired on 2026-01-10" in warned.warnings[0]
    )
    with pytest.raises(ConfigError, match="devices.electrometer_6517b.certificate 'PSDL-2025-0417' expired"):
        check(d1, config=_with_certificate("2026-01-10", "refuse"))
    # A device the run does not use does not hold it up.
    assert check("phantom-axis-iso230", config=_with_certificate("2026-01-10", "refuse")).devices == {
        "phantom_x"
    }


def test_an_expired_chamber_certificate_is_a_warning_or_a_refusal_by_site_rule():
    raw = load_rig_config().model_dump(mode="json")
    raw["devices"]["electrometer_6517b"]["chamber"] = {
        "vendor": "PTW", "model": "TN30013", "serial": "008101",
        "certificate": {"id": "ADCL-0042", "issued": "2024-01-10", "expires": "2026-01-10"},
    }  # fmt: skip
    d1 = "electrometer-leakage-reproducibility"
    warned = check(d1, config=RigConfig.model_validate(raw))
    assert any(
        "devices.electrometer_6517b.chamber.certificate 'ADCL-0042' expired on 2026-01-10" in w
        for w in warned.warnings
    )
    raw["expired_certificate"] = "refuse"
    with pytest.raises(ConfigError, match="electrometer_6517b.chamber.certificate 'ADCL-0042' expired"):
        check(d1, config=RigConfig.model_validate(raw))


def test_a_chamber_belongs_to_a_dosimeter():
    raw = load_rig_config().model_dump(mode="json")
    raw["devices"]["phantom_x"]["chamber"] = {"model": "TN30013", "serial": "1"}
    with pytest.raises(ValueError, match="only a dosimeter reads a chamber"):
        RigConfig.model_validate(raw)


def test_a_certificate_that_expires_before_it_was_issued_is_bad_input():
    with pytest.raises(ValueError, match="is not after issued"):
        _with_certificate("2024-01-01")
