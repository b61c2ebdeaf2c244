"""The directory a rebuild brings up to date from the last one is the directory made from nothing.

`serve` (and `cache.directory_reusing`) pass the last build's Directory to `pages.directory`,
which then changes its facet counts and memberships for the partners whose cards changed
instead of counting 10,000 partners again. Every page with a count or a list of partners reads
these, so any difference would show as a wrong number or a missing card.
"""

from __future__ import annotations

from partnerdir.award import award_all
from partnerdir.check import check
from partnerdir.facets import counts_changed, facet_counts
from partnerdir.pages import Directory, directory

from .site_records import AS_OF, SMALL, project_paths, record, write_records


def checked(tmp_path, records: dict[str, dict]):
    content = write_records(tmp_path / "content", records)
    result = check(project_paths(tmp_path, content), AS_OF)
    assert result.ok, [p.text() for p in result.problems]
    return result.rules, result.partners, award_all(result.partners, result.rules, AS_OF)


def same(a: Directory, b: Directory) -> None:
    assert a.order == b.order
    assert a.facets == b.facets
    assert a.matching == b.matching
    assert {s: v.member for s, v in a.views.items()} == {s: v.member for s, v in b.views.items()}


def edited(tmp_path, last: Directory, known: dict, slug: str, **fields) -> tuple[Directory, Directory]:
    """The directory after one record is edited: brought up to date from `last`, and made from nothing."""
    base = {**SMALL, "zeta": record("Zeta", countries_served=["NL"])}
    rules, partners, awards = checked(tmp_path, {**base, slug: {**base[slug], **fields}})
    # unchanged partners keep their checked partner, award and view, as a rebuild does
    old = {p.slug: p for p in last.partners.values()}
    partners = [old[p.slug] if p.slug != slug and p.slug in old else p for p in partners]
    awards = {s: last.awards[s] if s != slug and s in last.awards else a for s, a in awards.items()}
    return (directory(partners, awards, rules, AS_OF, known=known, last=last),
            directory(partners, awards, rules, AS_OF))


def test_facet_counts_brought_up_to_date_are_the_counts_made_again():
    before = [{"country": ["DE", "FR"], "program": ["a"]}, {"country": ["FR"], "program": ["a", "b"]}]
    after = [before[0], {"country": ["IS"], "program": ["b"]}]
    changed = counts_changed(facet_counts(before), [before[1]], [after[1]])
    assert changed == facet_counts(after)
    assert "FR" in changed["country"] and changed["country"]["FR"] == 1
    assert "a" in changed["program"] and changed["program"]["a"] == 1
    gone = counts_changed(facet_counts(before), [before[0]], [])
    assert "DE" not in gone["country"]  # a value nobody matches any more has no count, as made again


def test_a_country_added_or_removed_changes_counts_and_members_as_a_new_directory(tmp_path):
    rules, partners, awards = checked(tmp_path, {**SMALL, "zeta": record("Zeta", countries_served=["NL"])})
    known: dict = {}
    last = directory(partners, awards, rules, AS_OF, known=known)
    last.matching  # noqa: B018 (a rebuild finds it made: pages asked for it)
    warm, cold = edited(tmp_path / "a", last, known, "zeta", countries_served=["NL", "BR"])
    same(warm, cold)
    assert warm.matching["country"]["BR"] == ["zeta"]  # nobody else serves Latin America
    assert any(v.id == "BR" and v.count == 1 for v in warm.facets["country"])
    assert warm.matching["country"]["NL"] == ["alpha-var", "zeta"]  # in the directory's order
    warm.matching  # noqa: B018
    again, cold = edited(tmp_path / "b", warm, known, "zeta", countries_served=["NL"])
    same(again, cold)
    assert "BR" not in again.matching["country"]
    assert all(v.id != "BR" for v in again.facets["country"])  # no page for a country nobody serves


def place_lists(d: Directory) -> dict[str, tuple[list[str], list[str]]]:
    """Each place page's partners headquartered there and serving it, by slug."""
    from partnerdir.pages import place_pages

    return {page.path: ([v.slug for v in page.context["hq"]], [v.slug for v in page.context["serving"]])
            for page in place_pages(d) if "hq" in page.context}


def test_place_pages_lists_brought_up_to_date_are_the_lists_made_again(tmp_path):
    """A rebuild takes the place pages' lists of partners headquartered in or serving a place
    from the last build's, with the edited partner taken out and put back (head office moved to
    another region, regions and countries served changed), and they list the same partners in
    the same order as a directory made from nothing."""
    kappa = record("Aaron Kappa", countries_served=["NL"])  # (first of its level by name)
    rules, partners, awards = checked(tmp_path, {**SMALL, "kappa": kappa})
    known: dict = {}
    last = directory(partners, awards, rules, AS_OF, known=known)
    before = place_lists(last)  # (the pages ask for the lists: the next directory finds them)
    edits = [{"headquarters": {"city": "Boston", "country": "US"}, "regions_served": ["emea"]},
             {"headquarters": {"city": "Rome", "country": "IT"}, "countries_served": ["AT", "CA"]},
             {"countries_served": ["NL"]}]
    for step, fields in enumerate(edits):
        records = {**SMALL, "kappa": {**kappa, **fields}}
        rules, partners, awards = checked(tmp_path / str(step), records)
        old = {p.slug: p for p in last.partners.values()}
        partners = [old[p.slug] if p.slug != "kappa" and p.slug in old else p for p in partners]
        awards = {s: last.awards[s] if s != "kappa" and s in last.awards else a for s, a in awards.items()}
        warm = directory(partners, awards, rules, AS_OF, known=known, last=last)
        moved = {("hq", "US"), ("hq-region", "north-america"), ("serving-region", "emea")}
        assert step or moved <= set(warm.listed_views)  # (brought up to date, not made again)
        after = place_lists(warm)
        assert after == place_lists(directory(partners, awards, rules, AS_OF)), fields
        assert after != before, fields
        last, before = warm, after
    assert place_lists(last)["countries/nl/index.html"][1][:2] == ["alpha-var", "kappa"]


def test_a_partner_removed_at_the_review_leaves_every_count_and_list(tmp_path):
    rules, partners, awards = checked(tmp_path, {**SMALL, "zeta": record("Zeta", countries_served=["NL"])})
    known: dict = {}
    last = directory(partners, awards, rules, AS_OF, known=known)
    last.matching  # noqa: B018
    warm, cold = edited(tmp_path / "a", last, known, "beta-integration",
                        joined=SMALL["omega-removed"]["joined"], certifications=[], projects=[])
    assert "beta-integration" not in warm.partners
    same(warm, cold)
    assert all("beta-integration" not in slugs
               for by_value in warm.matching.values() for slugs in by_value.values())


def test_the_programs_page_counts_each_status_level_s_listed_partners(tmp_path):
    from collections import Counter

    from partnerdir.pages import program_pages

    rules, partners, awards = checked(tmp_path, {**SMALL, "zeta": record("Zeta", countries_served=["NL"])})
    d = directory(partners, awards, rules, AS_OF)
    overview = next(program_pages(d)).context
    held = Counter(v.level for v in d.views.values())
    assert {row["level"].id: row["count"] for row in overview["levels"]} == \
        {lv.id: held.get(lv.id, 0) for lv in rules.levels}
    assert sum(row["count"] for row in overview["levels"]) == len(d.partners) < len(partners)


def test_partners_that_move_in_the_order_leave_every_list_before_any_joins_one():
    """`pages._changed_from` with the new order (`relist`): two partners renamed at once, the
    first taken while the second still stood at its old place, was bisected into the wrong
    place of a list they share (found by hypothesis)."""
    from types import SimpleNamespace

    from partnerdir.pages import _changed_from

    def view(slug: str, name: str) -> SimpleNamespace:
        return SimpleNamespace(slug=slug, name=name, level_rank=0, member={"language": ["en"]})

    names = {"a": "Bravo", "b": "Charlie", "c": "Delta", "d": "Echo", "e": "Foxtrot"}
    last = SimpleNamespace(views={slug: view(slug, name) for slug, name in names.items()},
                           matching={"language": {"en": ["a", "b", "c", "d", "e"]}}, order=list("abcde"))
    now = {**last.views, "b": view("b", "Alpha"), "d": view("d", "Alpine")}
    order = sorted(now, key=lambda slug: now[slug].name)
    assert _changed_from(last, now, ["d", "b"], order)["language"]["en"] == order == ["b", "d", "a", "c", "e"]
