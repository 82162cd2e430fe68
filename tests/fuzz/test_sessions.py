"""Whole driver sessions with one or two replies mutated (checksums recomputed): only values or typed
errors come out, no measurement is non-finite, and no case takes longer than the bound."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import FUZZ, bounded
from tests.fuzz.mutate import mutation
from tests.fuzz.sessions import SESSIONS, Session, run_session


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: f"{s.protocol}-{len(s.replies)}")
def test_unmutated_session_runs_clean(session: Session) -> None:
    outcomes = run_session(session, list(session.replies))
    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert not errors, errors  # the script is a valid conversation: the fuzz starts from good replies


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: f"{s.protocol}-{len(s.replies)}")
@FUZZ
@given(data=st.data())
def test_mutated_session(session: Session, data: st.DataObject) -> None:
    replies = list(session.replies)
    candidates = [i for i, reply in enumerate(replies) if reply]
    for _ in range(data.draw(st.integers(1, 2), label="edits")):
        index = data.draw(st.sampled_from(candidates), label="reply")
        edit = data.draw(mutation(), label="mutation")
        replies[index] = session.reframe(replies[index] or b"", edit)
    with bounded(session.protocol):
        run_session(session, replies)
