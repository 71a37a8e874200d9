"""The champion rule: held-out figures are compared only between versions measured on the same held-out set."""

from __future__ import annotations

from pipeline.registry import HeldOut, Holder, decide, held_out_set

ITEMS = [("utkface", "data/raw/utkface/UTKFace/35_0_0_a.jpg", "male"),
         ("lfw", "data/raw/lfw/Ann/Ann_0001.jpg", "female")]


def test_a_held_out_set_is_named_by_its_items_whatever_their_order():
    same = held_out_set(ITEMS)
    assert same == held_out_set(reversed(ITEMS)) and same.n == 2 and len(same.digest) == 64
    assert held_out_set(ITEMS[:1]) != same  # fewer items
    relabelled = [(source, path, "female") for source, path, _ in ITEMS]
    assert held_out_set(relabelled).n == 2 and held_out_set(relabelled) != same  # same files, other labels
    assert HeldOut.from_tags(same.as_tags()) == same
    assert HeldOut.from_tags({}) is None  # a run from before the rule recorded no set


def test_on_the_same_held_out_set_the_higher_accuracy_wins_and_a_tie_keeps_the_champion():
    heldout = held_out_set(ITEMS)
    champion = Holder("3", 0.91, heldout)
    better = decide("genrec-gender", Holder("4", 0.93, heldout), champion)
    assert better.promoted and better.compared
    assert better.reason == "test.accuracy 0.93 beats champion v3's 0.91"
    tags = better.as_tags()
    assert tags["genrec.registry.challenger_heldout"] == tags["genrec.registry.champion_heldout"] == str(heldout)
    for score in (0.91, 0.89):
        kept = decide("genrec-gender", Holder("4", score, heldout), champion)
        assert not kept.promoted and kept.compared
        assert kept.reason == f"test.accuracy {score} does not beat champion v3's 0.91"


def test_on_another_held_out_set_the_figures_are_not_compared_and_the_champion_stays():
    full = held_out_set(ITEMS)
    smoke = held_out_set(ITEMS[:1])  # e.g. a smoke run's few held-out faces: a higher figure that means little
    decision = decide("genrec-gender", Holder("5", 0.99, smoke), Holder("3", 0.91, full))
    assert not decision.promoted and not decision.compared
    assert decision.reason.startswith(f"held-out sets differ (challenger: 1 items, {smoke.digest[:12]}; "
                                      f"champion v3: 2 items, {full.digest[:12]})")
    assert decision.reason.endswith("test.accuracy 0.99 and 0.91 not compared, the champion stays")
    tags = decision.as_tags()
    assert tags["genrec.registry.promoted"] == "false" and tags["genrec.registry.compared"] == "false"
    # A champion from before the rule recorded no held-out set: nothing to compare with either.
    unknown = decide("genrec-gender", Holder("5", 0.99, full), Holder("3", 0.91, None))
    assert not unknown.promoted and "champion v3: not recorded" in unknown.reason


def test_the_first_version_with_a_figure_becomes_champion():
    first = decide("genrec-gender", Holder("1", 0.8, held_out_set(ITEMS)), None)
    assert first.promoted and first.reason == "no champion yet"
    assert not decide("genrec-gender", Holder("1", None, None), None).promoted
