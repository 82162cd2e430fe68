"""Whole driver sessions with one or two replies mutated (checksums recomputed): only values or typed
errors come out, no measurement is non-finite, and no case takes longer than the bound."""

from __future__ import annotations

from collections.abc import Callable

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


def _edits(session: Session) -> st.SearchStrategy[list[tuple[int, Callable[[bytes], bytes]]]]:
    """One or two (reply index, mutation) pairs over the replies that carry bytes."""
    candidates = [i for i, reply in enumerate(session.replies) if reply]
    return st.lists(st.tuples(st.sampled_from(candidates), mutation()), min_size=1, max_size=2)


EDITS = {session: _edits(session) for session in SESSIONS}


@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: f"{s.protocol}-{len(s.replies)}")
@FUZZ
@given(data=st.data())
def test_mutated_session(session: Session, data: st.DataObject) -> None:
    replies = list(session.replies)
    for index, edit in data.draw(EDITS[session], label="edits"):
        replies[index] = session.reframe(replies[index] or b"", edit)
    with bounded(session.protocol, "session"):
        run_session(session, replies)
