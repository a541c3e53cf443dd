"""Metrics against hand-computed examples (and scikit-learn where it has them)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score

from riskwarn.backtest import metrics as m

Y = [1, 0, 1, 0]
S = [0.9, 0.8, 0.7, 0.1]


def test_average_precision_by_hand():
    # positives at ranks 1 and 3: (1/1 + 2/3) / 2
    assert m.average_precision(Y, S) == pytest.approx((1 + 2 / 3) / 2)
    assert math.isnan(m.average_precision([0, 0], [0.2, 0.1]))


def test_roc_auc_by_hand_and_with_ties():
    # pairs (pos, neg): 0.9>0.8, 0.9>0.1, 0.7<0.8, 0.7>0.1 -> 3 of 4
    assert m.roc_auc(Y, S) == pytest.approx(0.75)
    assert m.roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)
    assert math.isnan(m.roc_auc([1, 1], [0.5, 0.2]))


def test_brier_log_loss_skill_by_hand():
    assert m.brier([1, 0], [0.8, 0.3]) == pytest.approx((0.2**2 + 0.3**2) / 2)
    assert m.log_loss([1, 0], [0.8, 0.3]) == pytest.approx(-(math.log(0.8) + math.log(0.7)) / 2)
    assert np.isfinite(m.log_loss([1, 0], [0.0, 1.0]))  # clipped, not infinite
    # reference always 0.5: Brier 0.25; skill = 1 - 0.065 / 0.25
    assert m.brier_skill([1, 0], [0.8, 0.3], [0.5, 0.5]) == pytest.approx(1 - 0.065 / 0.25)


def test_ece_equal_mass_bins_by_hand():
    # two bins of two rows: |0.5 - 0.15| and |1.0 - 0.85|, each weighing one half
    assert m.expected_calibration_error(
        [0, 1, 1, 1], [0.1, 0.2, 0.8, 0.9], n_bins=2
    ) == pytest.approx(0.5 * 0.35 + 0.5 * 0.15)
    assert m.expected_calibration_error([0, 1], [0.0, 1.0]) == pytest.approx(0.0)


def test_top_k_size_and_ties():
    assert m.top_k_size(1000, 0.01) == 10 and m.top_k_size(10, 0.01) == 1
    # tied scores: the earlier grid goes first
    assert m.top_k_mask([0.5, 0.5, 0.1], 1 / 3).tolist() == [True, False, False]
    with pytest.raises(ValueError):
        m.top_k_size(10, 0)


def test_precision_recall_missed_by_hand():
    y = [1, 0, 0, 1, 0, 0, 0, 0, 1, 0]
    s = [0.9, 0.8, 0.1, 0.7, 0.2, 0.3, 0.0, 0.05, 0.15, 0.4]
    # top 20% = 2 grids: indices 0 (pos) and 1 (neg)
    assert m.precision_at_k(y, s, 0.2) == pytest.approx(0.5)
    assert m.recall_at_k(y, s, 0.2) == pytest.approx(1 / 3)
    assert m.missed_escalation_rate(y, s, 0.2) == pytest.approx(2 / 3)
    # top 30% adds index 3 (pos)
    assert m.recall_at_k(y, s, 0.3) == pytest.approx(2 / 3)
    assert math.isnan(m.recall_at_k([0, 0], [1, 0], 0.5))


def test_pai_and_pei_star_by_hand():
    count = [5, 0, 1, 0]
    score = [0.9, 0.1, 0.5, 0.2]
    area = [1, 1, 2, 4]
    # top 25% = grid 0: 5 of 6 events on 1 of 8 km2
    assert m.pai_at_k(count, score, 0.25, area) == pytest.approx((5 / 6) / (1 / 8))
    # without areas each grid is one unit: (5/6) / (1/4)
    assert m.pai_at_k(count, score, 0.25) == pytest.approx((5 / 6) / (1 / 4))
    assert m.pei_star_at_k(count, score, 0.25) == pytest.approx(1.0)
    assert m.pei_star_at_k(count, [0.1, 0.2, 0.9, 0.3], 0.25) == pytest.approx(1 / 5)
    assert math.isnan(m.pai_at_k([0, 0], [1, 0], 0.5))


def test_ndcg_by_hand():
    count = [3, 0, 1]
    score = [0.1, 0.9, 0.5]
    # top 2 by score: grid 1 (gain 0), grid 2 (gain log 2 at rank 2)
    dcg = 0 + math.log1p(1) / math.log2(3)
    ideal = math.log1p(3) + math.log1p(1) / math.log2(3)
    assert m.ndcg_at_k(count, score, 2 / 3) == pytest.approx(dcg / ideal)
    assert m.ndcg_at_k(count, [0.9, 0.1, 0.5], 2 / 3) == pytest.approx(1.0)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="different lengths"):
        m.brier([1, 0], [0.5])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.tuples(st.booleans(), st.integers(0, 5)), min_size=2, max_size=40).filter(
        lambda rows: 0 < sum(r[0] for r in rows) < len(rows)
    )
)
def test_ranking_metrics_agree_with_scikit_learn(rows):
    y = np.array([r[0] for r in rows], dtype=float)
    s = np.array([r[1] for r in rows], dtype=float) / 5  # many ties on purpose
    assert m.average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert m.roc_auc(y, s) == pytest.approx(roc_auc_score(y, s))


def test_warning_notes_flag_a_level_off_and_a_ranking_no_better_than_chance():
    from riskwarn.backtest.evaluate import warning_notes

    def row(model, h, mean, rate, n, auc, ap):
        return {"model": model, "horizon": h, "mean_score": mean, "base_rate": rate,
                "n_positive": n, "roc_auc": auc, "ap": ap}  # fmt: skip

    overall = [
        row("ensemble", 1, 0.10, 0.05, 40, 0.80, 0.30),  # twice the rate
        row("ensemble", 4, 0.10, 0.11, 90, 0.52, 0.12),  # level fine, ranking at chance
        row("ensemble", 2, 0.30, 0.05, 40, 0.50, 0.05),  # a horizon not asked about
        row("hist_rate", 1, 0.30, 0.05, 40, 0.50, 0.05),  # another model
    ]
    notes = warning_notes(overall, "ensemble", {1, 4})
    assert len(notes) == 2
    assert "2.00 × the realised rate at horizon 1" in notes[0]
    assert "no better than chance at horizon 4" in notes[1]
    # few escalations: the level is not judged; an undefined AUC is not "chance"
    quiet = [row("ensemble", 1, 0.10, 0.05, 19, float("nan"), 0.30)]
    assert warning_notes(quiet, "ensemble", {1}) == []
    assert warning_notes([row("ensemble", 1, 0.07, 0.05, 40, 0.8, 0.3)], "ensemble", {1}) == []
