"""Zaber ASCII framing, byte for byte: command building, strict reply parsing, checksums, flag tables."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import ProtocolError
from drivers.zaber.ascii import (
    REJECTION_REASONS,
    UNREFERENCED_FLAGS,
    WARNING_FLAGS,
    build_command,
    describe_flag,
    flag_severity,
    lrc,
    parse_reply,
    parse_warnings_data,
)


def test_checksum_vector_verified_against_zaber_motion() -> None:
    # zaber-motion 10.3.0 sent exactly this line when we tried it against a fake device.
    assert build_command(1, 0, "get pos", message_id=0, checksum=True) == b"/1 0 00 get pos:2D\n"
    assert lrc(b"1 0 00 get pos") == 0x2D


def test_broadcast_status_poll_vector() -> None:
    assert build_command(0, 0, "", message_id=2, checksum=True) == b"/0 0 02:FE\n"


@pytest.mark.parametrize(
    ("address", "axis", "text", "message_id", "expected"),
    [
        (1, 1, "move abs 10000", None, b"/1 1 move abs 10000\n"),
        (1, 1, "", None, b"/1 1\n"),
        (1, 0, "get pos", 7, b"/1 0 07 get pos\n"),
        (12, 3, "", 99, b"/12 3 99\n"),
    ],
)
def test_build_command_without_checksum(
    address: int, axis: int, text: str, message_id: int | None, expected: bytes
) -> None:
    assert build_command(address, axis, text, message_id=message_id) == expected


def test_parse_reply_with_id_and_checksum() -> None:
    reply = parse_reply(b"@01 0 00 OK IDLE -- 7500:71\r\n", with_message_id=True)
    assert (reply.address, reply.axis, reply.message_id) == (1, 0, 0)
    assert (reply.flag, reply.status, reply.warning, reply.data) == ("OK", "IDLE", "--", "7500")
    assert not reply.rejected and not reply.busy and not reply.fault
    assert reply.raw == b"@01 0 00 OK IDLE -- 7500:71\r\n"


def test_parse_reply_keeps_multi_value_data_and_flags() -> None:
    reply = parse_reply(b"@01 0 OK BUSY WR 0 0\r\n", with_message_id=False)
    assert reply.data == "0 0" and reply.busy and reply.warning == "WR" and reply.message_id is None
    rejected = parse_reply(b"@01 1 RJ IDLE FS BADDATA\r\n", with_message_id=False)
    assert rejected.rejected and rejected.fault and rejected.data == "BADDATA"


@pytest.mark.parametrize(
    ("line", "with_id", "why"),
    [
        (b"@01 0 OK IDLE\r\n", False, "too few fields"),
        (b"@01 0 OK IDLE -- 7500\r\n", True, "expected a message ID"),
        (b"@01 0 07 OK IDLE -- 7500\r\n", False, "neither OK nor RJ"),
        (b"@01 0 00 OK IDLE -- 7500:72\r\n", True, "bad checksum 72: expected 71"),
        (b"@01 0 00 OK IDLE -- 7500:7g\r\n", True, "not two upper-case hex"),
        (b"@01 0 OK IDLE -- 7500\n", False, "end with CR LF"),
        (b"01 0 OK IDLE -- 7500\r\n", False, "start with '@'"),
        (b"@1 0 OK IDLE -- 0\r\n", False, "address '1'"),
        (b"@01 x OK IDLE -- 0\r\n", False, "axis 'x'"),
        (b"@01 0 0A OK IDLE -- 0\r\n", True, "message ID '0A'"),
        (b"@01 0 OK WAIT -- 0\r\n", False, "neither BUSY nor IDLE"),
        (b"@01 0 OK IDLE W -- 0\r\n", False, "warning flag 'W'"),
        (b"@01 0 OK IDLE -- \r\n", False, "data field"),
        (b"@01 0 OK IDLE --  0\r\n", False, "data field"),
        (b"@01 0 OK IDLE -- \xb5\r\n", False, "not ASCII"),
    ],
)
def test_garbled_replies_raise_protocol_error_with_context(line: bytes, with_id: bool, why: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_reply(line, with_message_id=with_id, device="stage-x", command=b"/1 0 get pos\n")
    err = caught.value
    assert why in err.reason
    assert (err.device, err.command, err.reply) == ("stage-x", b"/1 0 get pos\n", line)
    assert "stage-x" in str(err) and "get pos" in str(err) and repr(line) in str(err)


def test_parse_warnings_data() -> None:
    assert parse_warnings_data("00") == ()
    assert parse_warnings_data("02 FS WR") == ("FS", "WR")
    assert parse_warnings_data("02 FS") is None  # count disagrees
    assert parse_warnings_data("01 fs") is None
    assert parse_warnings_data("x") is None


def test_flag_table_is_complete_and_classified() -> None:
    assert len(WARNING_FLAGS) == 34
    assert all(len(flag) == 2 and flag[0] in "FWN" for flag in WARNING_FLAGS)
    assert {flag for flag in WARNING_FLAGS if flag_severity(flag) == "fault"} >= {"FS", "FH", "FQ", "FE"}
    assert (
        flag_severity("WR") == "warning" and flag_severity("NI") == "notice" and flag_severity("--") is None
    )
    assert set(WARNING_FLAGS) >= UNREFERENCED_FLAGS
    assert describe_flag("FS") == "FS (stalled and stopped)"
    assert "not in our table" in describe_flag("FX")
    assert {"BADDATA", "BADCOMMAND", "STATUSBUSY", "BADAXIS"} <= set(REJECTION_REASONS)


_PAYLOAD_TEXT = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters=":/@"), max_size=60
)


@given(
    address=st.integers(1, 99),
    axis=st.integers(0, 9),
    message_id=st.none() | st.integers(0, 99),
    text=_PAYLOAD_TEXT,
)
def test_lrc_of_command_plus_appended_checksum_sums_to_zero(
    address: int, axis: int, message_id: int | None, text: str
) -> None:
    line = build_command(address, axis, text.strip(), message_id=message_id, checksum=True)
    assert line.startswith(b"/") and line.endswith(b"\n")
    payload, _, digits = line[1:-1].rpartition(b":")
    assert len(digits) == 2 and digits == digits.upper()
    assert (sum(payload) + int(digits, 16)) % 256 == 0


@given(payload=st.binary(max_size=200))
def test_lrc_property_on_any_bytes(payload: bytes) -> None:
    assert (sum(payload) + lrc(payload)) % 256 == 0
    assert 0 <= lrc(payload) <= 255


@given(
    status=st.sampled_from(["BUSY", "IDLE"]),
    warning=st.sampled_from(["--", *WARNING_FLAGS]),
    data=st.from_regex(r"[0-9A-Za-z.\-]{1,12}( [0-9A-Za-z.\-]{1,12}){0,3}", fullmatch=True),
    message_id=st.integers(0, 99),
)
def test_reply_with_checksum_round_trips(status: str, warning: str, data: str, message_id: int) -> None:
    payload = f"03 2 {message_id:02d} OK {status} {warning} {data}".encode()
    line = b"@%s:%02X\r\n" % (payload, lrc(payload))
    reply = parse_reply(line, with_message_id=True)
    assert (reply.address, reply.axis, reply.message_id, reply.status, reply.warning, reply.data) == (
        3,
        2,
        message_id,
        status,
        warning,
        data,
    )


@pytest.mark.parametrize("data", ["9" * 5000 + " FS", "01 " + "FS " * 30000 + "FS", "1_0"])
def test_warnings_data_of_any_length_is_refused_quietly(data: str) -> None:
    assert parse_warnings_data(data) is None


def test_an_axis_number_past_the_int_limit_is_garbled_not_a_value_error() -> None:
    with pytest.raises(ProtocolError, match="axis"):
        parse_reply(b"@01 " + b"1" * 5000 + b" OK IDLE -- 0\r\n", with_message_id=False)
