"""GCS 2.0 framing and the connection's error model, pinned byte for byte against scripted replies."""

from __future__ import annotations

import math

import pytest

from drivers.errors import ProtocolError, TransportTimeout
from drivers.pi_gcs import (
    GCS_ERRORS,
    GcsBusy,
    GcsConnection,
    GcsError,
    GcsInvalidAxis,
    GcsMotionError,
    GcsNotReferenced,
    GcsOutOfLimits,
    GcsParameterOutOfRange,
    GcsPivotError,
    GcsStopped,
    GcsSyntaxError,
    GcsVelocityOutOfLimits,
    gcs_error,
)
from drivers.pi_gcs.gcs import (
    CONTROLLER_READY,
    MOTION_STATUS,
    STOP_ALL,
    axis_arguments,
    build_line,
    decode_line,
    format_number,
    line_is_last,
    moving_axes,
    parse_axis_flags,
    parse_axis_floats,
    parse_motion_status,
    parse_number,
    parse_ready,
)
from drivers.pi_gcs.gcs import parse_int as gcs_parse_int
from drivers.transport.expected import ExpectedProtocolTransport, UnexpectedWrite

Script = list[tuple[bytes | None, bytes | None]]
ERR_OK = (b"ERR?\n", b"0\n")


def connect(script: Script, **options: bool) -> tuple[GcsConnection, ExpectedProtocolTransport]:
    transport = ExpectedProtocolTransport(script, device="c887")
    return GcsConnection(transport, **options), transport


# -- pure framing --------------------------------------------------------------------------------------
def test_single_byte_commands_are_the_control_characters() -> None:
    assert (chr(5).encode(), chr(7).encode(), chr(24).encode()) == (MOTION_STATUS, CONTROLLER_READY, STOP_ALL)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (10.0, "10"),
        (1.5, "1.5"),
        (-0.25, "-0.25"),
        (0.0000004, "0"),
        (-0.0000004, "0"),
        (12.3456789, "12.345679"),
        (7, "7"),
        (-3, "-3"),
        (1e-6, "0.000001"),
    ],
)
def test_numbers_are_plain_decimals_with_at_most_six_places(value: float, text: str) -> None:
    assert format_number(value) == text


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_number(value)


def test_booleans_are_not_numbers() -> None:
    with pytest.raises(TypeError):
        format_number(True)


def test_command_lines_end_in_lf_and_join_pairs_with_spaces() -> None:
    assert build_line("MOV", *axis_arguments({"X": 10.0, "U": 5.0})) == b"MOV X 10 U 5\n"
    assert build_line("POS?") == b"POS?\n"
    assert build_line("*IDN?") == b"*IDN?\n"


@pytest.mark.parametrize("text", ["MOV X 1\nSTP", "", " MOV", "MOV\r", "MÖV"])
def test_command_text_with_line_ends_or_non_ascii_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        build_line(text)


@pytest.mark.parametrize("axis", ["", "X Y", "X\n", "Ä", "X" * 17])
def test_bad_axis_identifiers_are_refused(axis: str) -> None:
    with pytest.raises(ValueError):
        axis_arguments({axis: 1.0})


def test_multi_line_framing_space_lf_continues_lf_ends() -> None:
    assert not line_is_last(b"X=1.000000 \n")
    assert line_is_last(b"W=0.000000\n")
    assert decode_line(b"X=1.000000 \n", device="d", command=None) == "X=1.000000"
    assert decode_line(b"W=0.000000\n", device="d", command=None) == "W=0.000000"


@pytest.mark.parametrize("raw", [b"X=1\r\n", b"X=1", b"\xff\x81\x8d\n"[:0] + b"a\rb\n"])
def test_lines_with_cr_or_without_lf_are_garbled(raw: bytes) -> None:
    with pytest.raises(ProtocolError):
        decode_line(raw, device="d", command=b"POS?\n")


def test_cp1252_text_decodes() -> None:
    assert decode_line(b"\xb1\n", device="d", command=None) == "±"


def test_undecodable_bytes_are_garbled() -> None:
    with pytest.raises(ProtocolError, match="cp1252"):
        decode_line(b"\x81\n", device="d", command=None)  # 0x81 is unassigned in cp1252


def test_axis_value_replies_parse_strictly_in_request_order() -> None:
    lines = ["X=1.500000", "Y=-2.000000"]
    assert parse_axis_floats(lines, ("X", "Y"), device="d", command="POS?", raw="") == {"X": 1.5, "Y": -2.0}
    for bad in (
        ["X=1.5", "X=2"],
        ["X=1.5"],
        ["Y=1", "X=1"],
        ["X 1.5", "Y=1"],
        ["X=1.5 ", "Y=1"],
        ["X=", "Y=1"],
        ["X=nan", "Y=1"],
        ["X=1_0", "Y=1"],
        ["X==1", "Y=1"],
        ["X=1.5", "Y=1", "Z=0"],
    ):
        with pytest.raises(ProtocolError):
            parse_axis_floats(bad, ("X", "Y"), device="d", command="POS?", raw="")


def test_flag_replies_must_be_zero_or_one() -> None:
    assert parse_axis_flags(["X=1", "Y=0"], ("X", "Y"), device="d", command="ONT?", raw="") == {
        "X": True,
        "Y": False,
    }
    with pytest.raises(ProtocolError, match="neither 0 nor 1"):
        parse_axis_flags(["X=2", "Y=0"], ("X", "Y"), device="d", command="ONT?", raw="")


@pytest.mark.parametrize("text", ["", " 1", "1 ", "inf", "nan", "1,5", "--1", "1e"])
def test_numbers_parse_strictly(text: str) -> None:
    with pytest.raises(ProtocolError):
        parse_number(text, device="d", command="VLS?", raw=text)


def test_motion_status_is_hex_with_optional_prefix_and_bits_follow_sai_order() -> None:
    assert parse_motion_status("3F", device="d", raw="") == 0x3F
    assert parse_motion_status("0x3f", device="d", raw="") == 0x3F
    assert parse_motion_status("0", device="d", raw="") == 0
    assert moving_axes(0b100101, ("X", "Y", "Z", "U", "V", "W")) == ("X", "Z", "W")
    for bad in ("", "0x", "G", "3F ", "-1"):
        with pytest.raises(ProtocolError):
            parse_motion_status(bad, device="d", raw=bad)


def test_ready_answer_is_b1_or_b0_then_lf() -> None:
    assert parse_ready(b"\xb1\n", device="d") is True
    assert parse_ready(b"\xb0\n", device="d") is False
    for bad in (b"1\n", b"\xb1", b"\xb1\xb1\n", b"\xb1 \n"):
        with pytest.raises(ProtocolError, match="0xB1"):
            parse_ready(bad, device="d")


# -- the error table -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (1, GcsSyntaxError),
        (2, GcsSyntaxError),
        (3, GcsSyntaxError),
        (5, GcsNotReferenced),
        (7, GcsOutOfLimits),
        (8, GcsVelocityOutOfLimits),
        (9, GcsPivotError),
        (10, GcsStopped),
        (15, GcsInvalidAxis),
        (17, GcsParameterOutOfRange),
        (23, GcsInvalidAxis),
        (24, GcsSyntaxError),
        (26, GcsSyntaxError),
        (536, GcsBusy),
        (1024, GcsMotionError),
    ],
)
def test_every_tabled_code_maps_to_its_type_keeping_code_and_text(code: int, cls: type[GcsError]) -> None:
    err = gcs_error("hexapod", "MOV X 999", code)
    assert type(err) is cls
    assert (err.gcs_code, err.text, err.command, err.device) == (
        code,
        GCS_ERRORS[code][1],
        "MOV X 999",
        "hexapod",
    )
    assert f"GCS error {code}" in str(err) and GCS_ERRORS[code][1] in str(err)


def test_unknown_code_is_a_plain_gcs_error_that_still_says_its_number() -> None:
    err = gcs_error("hexapod", "XYZ", 4242)
    assert type(err) is GcsError and err.gcs_code == 4242 and "GCS error 4242" in str(err)


# -- connection: set commands and ERR? -----------------------------------------------------------------
def test_set_command_is_followed_by_err_query() -> None:
    conn, transport = connect([(b"MOV X 10 U 5\n", None), ERR_OK])
    assert conn.send("MOV", "X", "10", "U", "5") == 0
    transport.assert_done()


def test_latched_error_raises_the_typed_error_naming_device_and_command() -> None:
    conn, transport = connect([(b"MOV X 999\n", None), (b"ERR?\n", b"7\n")])
    with pytest.raises(
        GcsOutOfLimits, match=r"hexapod: command 'MOV X 999' rejected with GCS error 7"
    ) as caught:
        conn.send("MOV", "X", "999", device="hexapod")
    assert caught.value.gcs_code == 7
    transport.assert_done()


def test_expected_code_is_returned_not_raised() -> None:
    conn, transport = connect([(b"STP\n", None), (b"ERR?\n", b"10\n")])
    assert conn.send("STP", allow=(10,)) == 10
    transport.assert_done()


def test_stop_all_is_one_byte_without_lf_then_err_10() -> None:
    conn, transport = connect([(b"\x18", None), (b"ERR?\n", b"10\n")])
    assert conn.stop_all() == 10
    transport.assert_done()


def test_garbled_err_answer_is_a_protocol_error_with_the_bytes() -> None:
    conn, transport = connect([(b"SVO X 1\n", None), (b"ERR?\n", b"zero\n")])
    with pytest.raises(
        ProtocolError, match=r"c887: 'zero' is not an integer; command 'ERR\?' got reply b'zero\\n'"
    ):
        conn.send("SVO", "X", "1")


def test_multi_line_err_answer_is_garbled() -> None:
    conn, _ = connect([(b"SVO X 1\n", None), (b"ERR?\n", b"0 \n0\n")])
    with pytest.raises(ProtocolError, match="one line"):
        conn.send("SVO", "X", "1")


def test_silent_controller_times_out_naming_the_err_query() -> None:
    conn, _ = connect([(b"SVO X 1\n", None), (b"ERR?\n", None)])
    with pytest.raises(TransportTimeout, match=r"ERR\?"):
        conn.send("SVO", "X", "1")


def test_an_unscripted_write_fails_the_test() -> None:
    conn, _ = connect([(b"SVO X 1\n", None), ERR_OK])
    with pytest.raises(UnexpectedWrite):
        conn.send("SVO", "X", "0")


# -- connection: queries -------------------------------------------------------------------------------
def test_multi_line_query_returns_every_line() -> None:
    conn, transport = connect([(b"POS? X Y Z U V W\n", b"X=1.0 \nY=2.0 \nZ=3.0 \nU=0.1 \nV=0.2 \nW=0.3\n")])
    pose = conn.query_floats("POS?", ("X", "Y", "Z", "U", "V", "W"))
    assert pose == {"X": 1.0, "Y": 2.0, "Z": 3.0, "U": 0.1, "V": 0.2, "W": 0.3}
    transport.assert_done()  # one round trip: no ERR? after a query that parsed


def test_check_queries_adds_err_after_each_query_like_pipython() -> None:
    conn, transport = connect([(b"*IDN?\n", b"PI C-887\n"), ERR_OK], check_queries=True)
    assert conn.query_value("*IDN?") == "PI C-887"
    transport.assert_done()


def test_check_queries_raises_a_latched_error() -> None:
    conn, _ = connect([(b"*IDN?\n", b"PI C-887\n"), (b"ERR?\n", b"2\n")], check_queries=True)
    with pytest.raises(GcsSyntaxError):
        conn.query_value("*IDN?")


def test_query_reply_that_arrives_in_pieces_is_joined() -> None:
    conn, transport = connect([(b"SAI?\n", b"X \nY \nZ \n"), (None, b"U \nV \nW\n")])
    assert conn.query("SAI?") == ["X", "Y", "Z", "U", "V", "W"]
    transport.assert_done()


def test_partial_multi_line_reply_times_out_then_err_explains_nothing() -> None:
    conn, transport = connect([(b"POS? X Y\n", b"X=1.0 \n"), ERR_OK])
    with pytest.raises(TransportTimeout, match=r"POS\? X Y"):
        conn.query_floats("POS?", ("X", "Y"))
    transport.assert_done()


def test_silent_query_explained_by_a_latched_invalid_axis() -> None:
    conn, transport = connect([(b"POS? Q\n", None), (b"ERR?\n", b"15\n")])
    with pytest.raises(GcsInvalidAxis, match="GCS error 15") as caught:
        conn.query_floats("POS?", ("Q",))
    assert isinstance(caught.value.__cause__, TransportTimeout)
    transport.assert_done()


def test_garbled_query_flushes_the_rest_and_reports_the_bytes() -> None:
    conn, transport = connect([(b"POS? X Y\n", b"X=1.0 \nY=abc\nstray\n"), ERR_OK])
    with pytest.raises(ProtocolError, match=r"'abc' is not a number") as caught:
        conn.query_floats("POS?", ("X", "Y"))
    assert caught.value.reply == b"X=1.0 \nY=abc\n" and caught.value.device == "c887"
    transport.assert_done()  # b"stray\n" was flushed, so the next command reads its own reply


def test_reply_with_a_bare_lf_inside_a_multi_line_answer_ends_early_and_is_refused() -> None:
    # "X=1.0\n" without the space means "last line": the reply then answers X only and is garbled.
    conn, _ = connect([(b"POS? X Y\n", b"X=1.0\nY=2.0\n"), ERR_OK])
    with pytest.raises(ProtocolError, match=r"answers \['X'\], expected \['X', 'Y'\]"):
        conn.query_floats("POS?", ("X", "Y"))


def test_endless_reply_is_cut_off() -> None:
    transport = ExpectedProtocolTransport([(b"HLP?\n", b"line \n" * 5), ERR_OK], device="c887")
    conn = GcsConnection(transport, max_reply_lines=4)
    with pytest.raises(ProtocolError, match="longer than 4 lines"):
        conn.query("HLP?")


def test_one_line_query_with_more_lines_is_garbled() -> None:
    conn, _ = connect([(b"CSV?\n", b"2.0 \n3.0\n"), ERR_OK])
    with pytest.raises(ProtocolError, match="one-line reply, got 2 lines"):
        conn.query_value("CSV?")


def test_motion_status_and_ready_single_bytes() -> None:
    conn, transport = connect([(b"\x05", b"3F\n"), (b"\x07", b"\xb0\n"), (b"\x07", b"\xb1\n")])
    assert conn.motion_status() == 0x3F
    assert conn.controller_ready() is False
    assert conn.controller_ready() is True
    transport.assert_done()


def test_garbled_ready_answer_is_flushed_and_reported() -> None:
    conn, transport = connect([(b"\x07", b"OK\n")])
    with pytest.raises(ProtocolError, match="0xB1"):
        conn.controller_ready()
    transport.assert_done()


def test_close_is_idempotent() -> None:
    conn, transport = connect([])
    conn.close()
    conn.close()
    assert transport.closed


@pytest.mark.parametrize(
    "parse",
    [
        lambda text: parse_number(text, device="couch", command="POS?", raw=text),
        lambda text: parse_motion_status(text, device="couch", raw=text),
        lambda text: gcs_parse_int(text, device="couch", command="ERR?", raw=text),
    ],
)
@pytest.mark.parametrize("text", ["9" * 5000, "-" + "1" * 4400, "f" * 400, "1" * 33])
def test_huge_numbers_are_protocol_errors_never_untyped(parse, text: str):
    """5000 digits would hit Python's 4300-digit int limit, an untyped ValueError."""
    with pytest.raises(ProtocolError):
        parse(text)


def test_a_number_that_overflows_to_infinity_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="not finite"):
        parse_number("1e999", device="couch", command="POS?", raw="1e999")
