"""Zaber ASCII framing: LRC, command parsing, reply and alert formatting."""

from __future__ import annotations

import pytest

from simulators.zaber.protocol import (
    Command,
    format_alert,
    format_reply,
    lrc,
    parse_command,
    sort_flags,
    top_flag,
)


def test_lrc_matches_the_traffic_zaber_motion_sent_and_accepted() -> None:
    assert lrc(b"1 0 00 get pos") == "2D"  # zaber-motion sent "/1 0 00 get pos:2D"
    assert lrc(b"01 0 00 OK IDLE -- 7500") == "71"  # and accepted "@01 0 00 OK IDLE -- 7500:71"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/1 0 move abs 10000", Command(1, 0, None, ("move", "abs", "10000"), False)),
        ("/1 0 7 get pos", Command(1, 0, 7, ("get", "pos"), False)),
        ("/1 1 00 home", Command(1, 1, 0, ("home",), False)),
        ("/", Command(0, 0, None, (), False)),
        ("/2", Command(2, 0, None, (), False)),
        ("/1 2", Command(1, 2, None, (), False)),
        ("/1 0 12", Command(1, 0, 12, (), False)),
        ("/1 0 00 get pos:2D", Command(1, 0, 0, ("get", "pos"), True)),
        ("/1 0 00 get pos:2d", Command(1, 0, 0, ("get", "pos"), True)),
        ("noise/1 0 get pos  ", Command(1, 0, None, ("get", "pos"), False)),
        ("/1 1 move rel -5", Command(1, 1, None, ("move", "rel", "-5"), False)),
        ("/get pos", Command(0, 0, None, ("get", "pos"), False)),
    ],
)
def test_parse_command(line: str, expected: Command) -> None:
    assert parse_command(line) == expected


@pytest.mark.parametrize("line", ["", "@01 0 OK IDLE -- 0", "/1 0 00 get pos:2E", "/1 0 get pos:ZZ", "/1:2"])
def test_lines_the_device_ignores(line: str) -> None:
    assert parse_command(line) is None


def test_format_reply() -> None:
    assert format_reply(1, 0, None, "OK", "IDLE", "--", "0") == b"@01 0 OK IDLE -- 0\r\n"
    assert format_reply(12, 3, 7, "OK", "BUSY", "WR", "") == b"@12 3 07 OK BUSY WR 0\r\n"
    reply = format_reply(1, 0, 0, "OK", "IDLE", "--", "7500", checksum=True)
    assert reply == b"@01 0 00 OK IDLE -- 7500:71\r\n"


def test_format_alert() -> None:
    assert format_alert(1, 1, "IDLE", "--") == b"!01 1 IDLE --\r\n"
    body = b"01 1 IDLE --"
    expected = b"!" + body + b":" + lrc(body).encode() + b"\r\n"
    assert format_alert(1, 1, "IDLE", "--", checksum=True) == expected


def test_warning_flags_by_priority() -> None:
    assert sort_flags({"NI", "WR", "FS"}) == ["FS", "WR", "NI"]
    assert top_flag({"NI", "WR"}) == "WR"
    assert top_flag(set()) == "--"
