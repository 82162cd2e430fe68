"""Every driver-side parser on arbitrary bytes (up to 64 kB): a value with finite numbers or a typed error."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.keithley6517b import scpi as k
from drivers.ndi import frames as nf
from drivers.ndi import framing as nfr
from drivers.ptw_unidos import protocol as u
from drivers.zaber import ascii as z
from tests.fuzz.harness import FUZZ, assert_finite, bad_numbers, bounded, noise, typed_or_value

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


PARSERS: list[tuple[str, Callable[[bytes], Any]]] = [
    ("zaber", _zaber),
    ("ptw_unidos", _unidos),
    ("keithley6517b", _keithley),
    ("ndi", _ndi),
]


def _near_valid(sep: str) -> st.SearchStrategy[bytes]:
    field = st.one_of(
        bad_numbers, st.sampled_from(["MV", "01", "1", "OK", "IDLE", "--", "E-9", "n", "C", "A"])
    )
    return st.lists(field, max_size=18).map(lambda fs: sep.join(fs).encode("utf-8"))


@pytest.mark.parametrize(("protocol", "parse"), PARSERS, ids=[p for p, _ in PARSERS])
@FUZZ
@given(raw=st.one_of(noise(), _near_valid(";"), _near_valid(" "), _near_valid(",")))
def test_parser_returns_a_value_or_a_typed_error(
    protocol: str, parse: Callable[[bytes], Any], raw: bytes
) -> None:
    with bounded(f"parse-{protocol}"):
        result = typed_or_value(lambda: parse(raw))
    if not isinstance(result, Exception):
        for item in result if isinstance(result, tuple) else (result,):
            if isinstance(item, nf.TrackingReply):
                for report in item.handles:
                    if report.state == "valid":
                        assert_finite((report.rotation, report.translation_mm, report.rms_error_mm), "BX/TX")
            elif not isinstance(item, Exception):
                assert_finite(item, protocol)
