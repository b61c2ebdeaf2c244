"""What changed between two builds in one process, told by identity.

A process that keeps its builds (`serve`) hands each stage the same objects as last time for
every partner whose record did not change: only an edited record gives a new partner, award,
view or summary. So a stage that made something of every partner last time can find the few
that changed by comparing this build's list with the last one's object by object, which runs
in C (a fifth of a millisecond for 10,000), and redo only those, instead of looking each one
up in a dict of what it kept (10-40 ms a stage at 10,000 partners, a dozen stages).
"""

from __future__ import annotations

from itertools import compress
from operator import is_not

# More changed items than this and a stage does them all again: the lists and dicts that the
# ways of redoing a few update one by one are cheaper to make again from every item.
MOST_CHANGED = 64


def changed_places(now: list, last: list | None, most: int = MOST_CHANGED) -> list[int] | None:
    """The places of `now` whose item is not the very object at that place in `last`; None when
    there is no `last`, the lengths differ or more than `most` changed."""
    if last is None or len(last) != len(now):
        return None
    places = list(compress(range(len(now)), map(is_not, now, last)))  # noqa: B905 (same lengths)
    return places if len(places) <= most else None


def edited(now: list, last: list | None) -> list[tuple] | None:
    """(new, old) of each item of `now` that is not the very object at its place in `last`;
    None as for `changed_places`."""
    places = changed_places(now, last)
    return None if places is None else [(now[i], last[i]) for i in places]  # type: ignore[index]


def edited_with(now: list, last: list | None, now_also: list, last_also: list | None) -> list[tuple] | None:
    """`edited` for items that go with another list's at the same places (a partner and its
    award): (new, old) of each item that is not the very object at its place in `last`, or
    whose companion is not; None as for `edited`."""
    if len(now) != len(now_also):
        return None
    places, also = changed_places(now, last), changed_places(now_also, last_also)
    if places is None or also is None:
        return None
    places = sorted({*places, *also})
    return [(now[i], last[i]) for i in places] if len(places) <= MOST_CHANGED else None  # type: ignore[index]
