"""ROC-AUC and WAPE of the smoke job, against hand-computed values and a brute-force AUC."""

import itertools

import pytest

np = pytest.importorskip("numpy")

from onprem_mlops.smoke.metrics import roc_auc, wape  # noqa: E402


def brute_force_auc(labels, scores):
    pairs = [
        1.0 if p > n else 0.5 if p == n else 0.0
        for (p, lp), (n, ln) in itertools.product(zip(scores, labels, strict=True), repeat=2)
        if lp == 1 and ln == 0
    ]
    return sum(pairs) / len(pairs)


def test_auc_hand_computed():
    # Positives 0.8 and 0.4, negatives 0.6, 0.2, 0.1. Pairs: (0.8 > all three) = 3,
    # (0.4 > 0.2, 0.1) = 2, (0.4 < 0.6) = 0 -> 5 of 6.
    assert roc_auc([1, 0, 1, 0, 0], [0.8, 0.6, 0.4, 0.2, 0.1]) == pytest.approx(5 / 6)


def test_auc_ties_count_one_half():
    # Positive 0.5 ties negative 0.5 (1/2) and beats 0.1 (1): (1 + 0.5) / 2.
    assert roc_auc([1, 0, 0], [0.5, 0.5, 0.1]) == pytest.approx(0.75)
    assert roc_auc([1, 1, 0, 0], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)


def test_auc_extremes_and_scale_invariance():
    y = [0, 0, 1, 1]
    assert roc_auc(y, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc(y, [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc(y, [-5.0, 1.0, 3.0, 100.0]) == 1.0  # logits work as well as probabilities


def test_auc_matches_brute_force_on_random_data_with_ties():
    rng = np.random.default_rng(3)
    labels = rng.random(300) < 0.2
    scores = np.round(rng.random(300) + labels * 0.3, 1)  # rounding makes many ties
    assert roc_auc(labels, scores) == pytest.approx(brute_force_auc(labels, scores))


def test_auc_needs_both_classes_and_equal_lengths():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match="differ in length"):
        roc_auc([1, 0], [0.2])


def test_wape():
    assert wape([10, 20, 30], [12, 18, 30]) == pytest.approx(4 / 60)
    assert wape([5, 5], [5, 5]) == 0.0
    with pytest.raises(ValueError, match="zero"):
        wape([0, 0], [1, 1])
