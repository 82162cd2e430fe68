"""Every driver-side parser on arbitrary bytes (up to 64 kB): a value with finite numbers or a typed error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.environment import ScpiEnvironmentSensor
from drivers.errors import wire_float
from drivers.keithley6517b import scpi as k
from drivers.ndi import frames as nf
from drivers.ndi import framing as nfr
from drivers.pi_gcs import GcsConnection
from drivers.pi_gcs import gcs as g
from drivers.ptw_unidos import protocol as u
from drivers.zaber import ascii as z
from tests.fuzz.harness import FUZZ, assert_finite, bad_numbers, bounded, noise, typed_or_value
from tests.fuzz.mutate import ReplayTransport

D = {"device": "fuzz"}


def _text(raw: bytes) -> str:
    return raw.decode("latin-1")


def _unidos(raw: bytes) -> Any:
    reply = u.parse_reply(raw + b"\r\n", b"MV\r\n", raw.split(b";")[0].decode("utf-8", "replace"), **D)
    return (
        typed_or_value(lambda: u.parse_measurement(reply, b"MV\r\n", **D)),
        typed_or_value(lambda: u.parse_range_values(reply, b"MVR\r\n", **D)),
        typed_or_value(lambda: u.parse_zero_status(reply, b"NUS\r\n", **D)),
    )


def _keithley(raw: bytes) -> Any:
    text = k.reply_text(raw + b"\n", b":READ?\n", **D)
    return tuple(
        typed_or_value(lambda f=f: f(text, command=b"?", **D))  # type: ignore[misc]
        for f in (k.parse_readings, k.parse_error, k.parse_identity, k.parse_bool, k.parse_function)
    )


def _ndi(raw: bytes) -> Any:
    text = _text(raw)
    return (
        typed_or_value(lambda: nfr.parse_text_reply(raw + b"\r", command=b"TX", **D)),
        typed_or_value(lambda: nfr.parse_binary_header(raw[:6], command=b"BX", **D)),
        typed_or_value(lambda: nfr.check_binary_body(raw, command=b"BX", **D)),
        typed_or_value(lambda: nf.parse_bx(raw, **D)),
        typed_or_value(lambda: nf.parse_tx(text, **D)),
        typed_or_value(lambda: nf.parse_handle(text, **D)),
        typed_or_value(lambda: nf.parse_handle_status(text, **D)),
    )


def _zaber(raw: bytes) -> Any:
    reply = z.parse_reply(b"@" + raw + b"\r\n", with_message_id=raw[6:7] == b" ", **D)
    return (
        z.parse_warnings_data(reply.data),
        typed_or_value(lambda: z.parse_int(reply.data, command=None, raw=reply.raw, **D)),
    )


class _Clock:
    def now(self) -> float:
        return 0.0

    def sleep(self, seconds: float) -> None:
        pass


def _environment(raw: bytes) -> Any:
    """``wire_float`` on the text, then a sensor whose every answer is ``raw`` (identity, then a reading)."""
    sensor = ScpiEnvironmentSensor(
        ReplayTransport([b"ENV\n", raw, raw], device="fuzz"), name="room", clock=_Clock()
    )
    sensor.connect()
    return (
        typed_or_value(lambda: wire_float(_text(raw), **D, command="MEAS:TEMP?", reply=raw, what="reading")),
        typed_or_value(sensor.read),
    )


def _gcs_lines(raw: bytes) -> list[str]:
    """The decodable LF-terminated lines of ``raw`` (at most 512, the connection's bound)."""
    lines: list[str] = []
    for piece in raw.split(b"\n")[:-1][:512]:
        line = typed_or_value(lambda p=piece: g.decode_line(p + b"\n", **D, command="POS?"))  # type: ignore[misc]
        if isinstance(line, str):
            lines.append(line)
    return lines


def _pi_gcs(raw: bytes) -> Any:
    """The pure GCS parsers on ``raw``, then the connection's reply reader on ``raw`` as a whole reply
    (with ``raw`` again as the ``ERR?`` answer that explains a failed query)."""
    text = _text(raw)
    keyed = _gcs_lines(raw)
    axes = g.HEXAPOD_AXES
    pure = (
        g.line_is_last(raw),
        typed_or_value(lambda: g.decode_line(raw, **D, command="ERR?")),
        typed_or_value(lambda: g.parse_number(text, **D, command="VLS?", raw=raw)),
        typed_or_value(lambda: g.parse_int(text, **D, command="ERR?", raw=raw)),
        typed_or_value(lambda: g.parse_motion_status(text, **D, raw=raw)),
        typed_or_value(lambda: g.parse_ready(raw, **D)),
        typed_or_value(lambda: g.parse_keyed(keyed, None, **D, command="CST?", raw=raw)),
        typed_or_value(lambda: g.parse_axis_floats(keyed, axes, **D, command="POS?", raw=raw)),
        typed_or_value(lambda: g.parse_axis_floats(keyed, ("R", "S", "T"), **D, command="SPI?", raw=raw)),
        typed_or_value(lambda: g.parse_axis_flags(keyed, axes, **D, command="ONT?", raw=raw)),
    )

    def conn() -> GcsConnection:
        return GcsConnection(ReplayTransport([raw, raw], device="fuzz"))

    wire = (
        typed_or_value(lambda: conn().query_floats("POS?", axes)),
        typed_or_value(lambda: conn().query_floats("TMN?", axes)),
        typed_or_value(lambda: conn().query_floats("SPI?", ("R", "S", "T"), ask_keys=False)),
        typed_or_value(lambda: conn().query_flags("FRF?", axes)),
        typed_or_value(lambda: conn().query_value("VLS?")),
        typed_or_value(lambda: conn().query("SAI?")),
        typed_or_value(lambda: conn().error_code()),
        typed_or_value(lambda: conn().motion_status()),
        typed_or_value(lambda: conn().controller_ready()),
        typed_or_value(lambda: conn().send("MOV", "X", "1")),
        typed_or_value(lambda: conn().stop_all()),
    )
    return (*pure, *wire)


PARSERS: list[tuple[str, Callable[[bytes], Any]]] = [
    ("zaber", _zaber),
    ("ptw_unidos", _unidos),
    ("keithley6517b", _keithley),
    ("ndi", _ndi),
    ("pi_gcs", _pi_gcs),
    ("environment", _environment),
]


def _near_valid(sep: str) -> st.SearchStrategy[bytes]:
    field = st.one_of(
        bad_numbers, st.sampled_from(["MV", "01", "1", "OK", "IDLE", "--", "E-9", "n", "C", "A"])
    )
    return st.lists(field, max_size=18).map(lambda fs: sep.join(fs).encode("utf-8"))


def _gcs_near_valid() -> st.SearchStrategy[bytes]:
    """Multi-line ``key=value`` replies with real axis names, bad numbers and both line ends."""
    key = st.sampled_from(["X", "Y", "Z", "U", "V", "W", "R", "S", "T", "A", "", "X=", " X", "x"])
    value = st.one_of(bad_numbers, st.sampled_from(["0", "1", "1.500000", "-25.000000", "3F", "0x3F"]))
    end = st.sampled_from([" \n", " \n", "\n", "\r\n", " \r\n", ""])
    line = st.builds(lambda *parts: "".join(parts), key, st.sampled_from(["=", "", "=="]), value, end)
    last = st.sampled_from(["\n", "", " \n", "\xb1\n", "\xb0\n"])
    return st.builds(
        lambda lines, tail: ("".join(lines) + tail).encode("cp1252", "replace"),
        st.lists(line, max_size=9),
        last,
    )


@pytest.mark.parametrize(("protocol", "parse"), PARSERS, ids=[p for p, _ in PARSERS])
@FUZZ
@given(raw=st.one_of(noise(), _near_valid(";"), _near_valid(" "), _near_valid(","), _gcs_near_valid()))
def test_parser_returns_a_value_or_a_typed_error(
    protocol: str, parse: Callable[[bytes], Any], raw: bytes
) -> None:
    with bounded(protocol, "parser"):
        result = typed_or_value(lambda: parse(raw))
        if not isinstance(result, Exception):
            for item in result if isinstance(result, tuple) else (result,):
                if isinstance(item, nf.TrackingReply):
                    for report in item.handles:
                        if report.state == "valid":
                            assert_finite(
                                (report.rotation, report.translation_mm, report.rms_error_mm), "BX/TX"
                            )
                elif not isinstance(item, Exception):
                    assert_finite(item, protocol)
