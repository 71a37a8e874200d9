"""The champion rule: held-out figures are compared only between versions measured on the same held-out set."""

from __future__ import annotations

from pipeline.tracking.registry import Holder, decide, held_out_set

INPUTS = {
    "data/raw": "2c23cf0d0250ab929bd1cf7cc5c981fa.dir",
    "data/crops/faces.parquet": "8d1e0c2f4a",
    "data/features/eigen": "0a1b2c3d.dir",
}
METRICS = {
    "test.accuracy": 0.91,
    "n.test": 1634.0,
    "heldout.utkface.n": 1253.0,
    "heldout.lfw.n": 381.0,
    "heldout.lfw.accuracy": 0.9,
    "leave_one_out.lfw.n": 381.0,
    "cross_dataset.celeba.n": 40.0,
}


def test_a_held_out_set_is_the_data_its_rows_come_from_and_the_count_of_each_source():
    full = held_out_set(METRICS, INPUTS)
    assert dict(full.counts) == {"n.test": 1634, "heldout.utkface.n": 1253, "heldout.lfw.n": 381}
    assert dict(full.data) == {"data/crops/faces.parquet": "8d1e0c2f4a", "data/raw": INPUTS["data/raw"]}
    assert str(full) == (
        "1634 held out (lfw 381, utkface 1253) from data/crops/faces.parquet 8d1e0c2f, data/raw 2c23cf0d"
    )
    # Other features (data/features/eigen) or other scores: the same held-out faces.
    assert held_out_set({**METRICS, "test.accuracy": 0.5}, {**INPUTS, "data/features/eigen": "ffff.dir"}) == full
    # Another face table (e.g. another detector, or the split redrawn), or other counts: another set.
    assert held_out_set(METRICS, {**INPUTS, "data/crops/faces.parquet": "77"}) != full
    assert held_out_set({**METRICS, "heldout.lfw.n": 380.0, "n.test": 1633.0}, INPUTS) != full
    # A run that logged no held-out count or not its input data recorded no set.
    assert held_out_set({"test.accuracy": 0.9}, INPUTS) is None
    assert held_out_set(METRICS, {"data/raw": INPUTS["data/raw"]}) is None


def test_on_the_same_held_out_set_the_higher_accuracy_wins_and_a_tie_keeps_the_champion():
    heldout = held_out_set(METRICS, INPUTS)
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
    full = held_out_set(METRICS, INPUTS)
    # A smoke run: a few dozen held-out faces from another face table, a higher figure that means little.
    smoke = held_out_set({"n.test": 61.0, "heldout.utkface.n": 61.0}, {**INPUTS, "data/crops/faces.parquet": "5a"})
    decision = decide("genrec-gender", Holder("5", 0.99, smoke), Holder("3", 0.91, full))
    assert not decision.promoted and not decision.compared
    assert decision.reason == (
        f"held-out sets differ (challenger: {smoke}; champion v3: {full}): "
        "test.accuracy 0.99 and 0.91 not compared, the champion stays"
    )
    tags = decision.as_tags()
    assert tags["genrec.registry.promoted"] == "false" and tags["genrec.registry.compared"] == "false"
    assert tags["genrec.registry.challenger_heldout"] == str(smoke)
    # A champion whose run recorded no held-out set: nothing to compare with either.
    unknown = decide("genrec-gender", Holder("5", 0.99, full), Holder("3", 0.91, None))
    assert not unknown.promoted and "champion v3: not recorded" in unknown.reason


def test_the_first_version_with_a_figure_becomes_champion():
    first = decide("genrec-gender", Holder("1", 0.8, held_out_set(METRICS, INPUTS)), None)
    assert first.promoted and first.reason == "no champion yet"
    assert not decide("genrec-gender", Holder("1", None, None), None).promoted
