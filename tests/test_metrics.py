import warnings

import numpy as np
import pytest
from scipy.stats import entropy
from sklearn.exceptions import UndefinedMetricWarning

from skqegm.datasets import make_tail_mixture
from skqegm.metrics import (
    coverage_error,
    interval_coverage,
    rare_event_precision,
    rare_event_recall,
    tail_kl_divergence,
)

MIXTURE_MEAN = 0.0
MIXTURE_VAR = 0.15 * (1 + 9) + 0.7 * 0.5 + 0.15 * (1.5 + 9)  # 3.425


def _smooth(counts, smoothing):
    p = counts / counts.sum() if counts.sum() else counts.astype(float)
    return (p + smoothing) / (p.sum() + smoothing * p.size)


def _histograms_by_hand(x_true, x_model, tail, side, bins):
    """Per-side np.histogram on the documented edges; model points clipped into the
    open-ended outermost bin."""
    p, q = [], []
    if side in ("lower", "both"):
        thr = np.quantile(x_true, tail)
        edges = np.linspace(x_true.min(), thr, bins + 1)
        p.append(np.histogram(x_true[x_true <= thr], edges)[0])
        q.append(np.histogram(np.clip(x_model[x_model <= thr], edges[0], None), edges)[0])
    if side in ("upper", "both"):
        thr = np.quantile(x_true, 1 - tail)
        edges = np.linspace(thr, x_true.max(), bins + 1)
        p.append(np.histogram(x_true[x_true >= thr], edges)[0])
        q.append(np.histogram(np.clip(x_model[x_model >= thr], None, edges[-1]), edges)[0])
    return np.concatenate(p), np.concatenate(q)


# --- tail KL ----------------------------------------------------------------------------


@pytest.mark.parametrize("side", ["lower", "upper", "both"])
@pytest.mark.parametrize("smoothing", [1e-4, 1e-2])
def test_tail_kl_equals_scipy_entropy_on_the_same_histograms(side, smoothing):
    rng = np.random.RandomState(0)
    x_true = rng.standard_t(4, size=5000)
    x_model = 1.3 * rng.standard_normal(7000)  # some draws beyond the data's extremes
    p, q = _histograms_by_hand(x_true, x_model, 0.05, side, 15)
    expected = entropy(_smooth(p, smoothing), _smooth(q, smoothing))
    got = tail_kl_divergence(x_true, x_model, tail_fraction=0.05, side=side, bins=15,
                             smoothing=smoothing)
    assert got == pytest.approx(expected, rel=1e-12)
    assert got > 0.01


def test_tail_kl_is_zero_for_identical_samples():
    x = np.random.RandomState(1).standard_normal((800, 1))
    for side in ("lower", "upper", "both"):
        assert tail_kl_divergence(x, x, side=side) == 0.0
    assert tail_kl_divergence(x, x.ravel().copy()) == 0.0


def test_true_mixture_scores_near_floor_and_below_a_moment_matched_gaussian():
    same, gaussian = [], []
    for seed in range(10):
        x, _ = make_tail_mixture(20000, random_state=seed)
        x_other, _ = make_tail_mixture(20000, random_state=100 + seed)
        x_gauss = np.random.RandomState(200 + seed).normal(
            MIXTURE_MEAN, np.sqrt(MIXTURE_VAR), size=20000)
        same.append(tail_kl_divergence(x, x_other))
        gaussian.append(tail_kl_divergence(x, x_gauss))
    assert max(same) < 0.05
    assert np.mean(gaussian) > np.mean(same)


def test_model_without_tail_mass_scores_as_the_worst_possible_model():
    x_true = np.random.RandomState(2).standard_normal(2000)
    x_model = np.zeros(500)
    with pytest.warns(UserWarning, match="No point of x_model falls in the tail region"):
        kl = tail_kl_divergence(x_true, x_model, side="upper", bins=10)
    p, _ = _histograms_by_hand(x_true, x_model, 0.05, "upper", 10)
    p_smooth = _smooth(p, 1e-4)
    # KL is convex in q: its maximum over all models is at one of the smoothed point masses.
    vertices = [entropy(p_smooth, _smooth(np.eye(10)[j], 1e-4)) for j in range(10)]
    assert kl == pytest.approx(max(vertices), rel=1e-12)
    assert kl > 7.6  # was 0.75, the KL against the uniform Q_T left by smoothing
    rng = np.random.RandomState(3)
    for _ in range(20):  # no model scores worse
        model = rng.standard_normal(500) * rng.uniform(0.2, 3) + rng.uniform(-1, 3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # some of them miss T too
            assert tail_kl_divergence(x_true, model, side="upper", bins=10) <= kl
    with pytest.warns(UserWarning):
        assert tail_kl_divergence(x_true, x_model, smoothing=0) == np.inf


def test_model_without_tail_ranks_below_the_true_law():
    # A uniform law has a flat tail, so the uniform Q_T once given to a model without any
    # tail matched it better than a sample of the true law did: 0.124 against 0.132.
    rng = np.random.RandomState(0)
    x_true = rng.uniform(0, 1, 2000)
    truth, no_tail = rng.uniform(0, 1, 20000), rng.uniform(0, 0.9, 20000)
    kl_truth = tail_kl_divergence(x_true, truth, side="upper")
    with pytest.warns(UserWarning, match="worst possible model"):
        kl_no_tail = tail_kl_divergence(x_true, no_tail, side="upper")
    assert kl_truth == pytest.approx(0.132, abs=1e-3)
    assert kl_no_tail > kl_truth + 5


@pytest.mark.parametrize("rarity", [None, lambda X: np.sum(X ** 2, axis=1)])
def test_far_model_scores_worse_than_a_near_one_or_is_refused(rarity):
    rng = np.random.RandomState(0)
    near, far = rng.standard_normal((1000, 2)), rng.standard_normal((1000, 2)) + 50
    # Ten points: the 5% tail holds one point, one cell, in which the far model scored 0.0.
    x_small = rng.standard_normal((10, 2))
    with pytest.raises(ValueError, match=r"holds 1 of the 10 points of x_true.*at least 2 "
                                         "filled cells.*larger tail_fraction"):
        tail_kl_divergence(x_small, far, rarity=rarity)
    x_true = rng.standard_normal((400, 2))
    kl_near = tail_kl_divergence(x_true, near, rarity=rarity, bins=5)
    kl_far = tail_kl_divergence(x_true, far, rarity=rarity, bins=5)
    assert kl_near < 0.1 and kl_far > 3.0


def test_one_dimensional_rarity_with_a_tiny_tail_is_refused():
    rng = np.random.RandomState(1)
    x_true, model = rng.standard_normal(20), rng.standard_normal(1000)
    rarity = lambda X: np.abs(X[:, 0])  # noqa: E731
    with pytest.raises(ValueError, match="holds 1 of the 20 points"):  # both scored 0.0
        tail_kl_divergence(x_true, model + 50, rarity=rarity)
    x_true = rng.standard_normal(200)
    assert (tail_kl_divergence(x_true, model, rarity=rarity)
            < tail_kl_divergence(x_true, model + 50, rarity=rarity))


@pytest.mark.parametrize(
    "x_true, kwargs, match",
    [
        # One point per tail (n = 1, 2, 3): a single cell.
        ([0.0], {}, "lower tail of x_true at tail_fraction=0.05 holds 1 of the 1 points"),
        ([0.0, 1.0], {}, "holds 1 of the 2 points of x_true, which fill 1 of its 20 bins"),
        ([0.0, 1.0, 2.0], dict(side="upper"), "upper tail .* holds 1 of the 3 points"),
        # Two tail points in one bin: a gap between the tail and the threshold.
        (np.r_[0.0, 0.001, np.linspace(5, 10, 38)], dict(side="lower"), "fill 1 of its 20"),
        # All equal, or ties filling a tail.
        (np.zeros(100), {}, "holds 100 of the 100 points"),
        (np.repeat([0.0, 1.0], 50), {}, "holds 50 of the 100 points"),
        (np.r_[0.0, np.ones(99)], dict(side="lower"), "tail is the whole sample"),
        (np.r_[-1.0, 1.0, np.zeros(98)], {}, "tail is the whole sample"),
    ],
)
def test_degenerate_one_dimensional_tails_are_refused(x_true, kwargs, match):
    far = np.asarray(x_true, dtype=float) - 50  # scored 0.0 before, as a perfect model
    with pytest.raises(ValueError, match=match):
        tail_kl_divergence(x_true, far, **kwargs)


def test_single_bin_per_side_is_refused():
    x = np.random.RandomState(4).standard_normal(2000)
    for side in ("lower", "both"):  # far, the model scored 0.0 (lower) or near it
        with pytest.raises(ValueError, match="bins must be >= 2: in a single cell"):
            tail_kl_divergence(x, x - 50, side=side, bins=1)


def test_rarity_ties_and_all_constant_columns_are_refused():
    rng = np.random.RandomState(5)
    x = rng.standard_normal((200, 2))
    with pytest.raises(ValueError, match="ties among the rarity scores"):
        tail_kl_divergence(x, x, rarity=lambda X: np.zeros(len(X)))
    with pytest.raises(ValueError, match="every column holds a single value.*rarity callable"):
        tail_kl_divergence(np.ones((100, 2)), np.ones((100, 2)) + 50)  # scored 0.0 before
    # One constant column is a null direction of the KDE: a model that varies there is
    # off the data's span, and pays for it.
    with_constant = np.column_stack([x[:, 0], np.ones(200)])
    assert tail_kl_divergence(with_constant, with_constant) == 0.0
    assert tail_kl_divergence(with_constant, x) > 0.5
    # With a rarity callable a constant column is harmless: it is the same for every cell.
    with_constant = np.column_stack([x[:, 0], np.ones(200)])
    rarity = lambda X: np.abs(X[:, 0])  # noqa: E731
    kl = tail_kl_divergence(with_constant, with_constant, rarity=rarity)
    assert kl == 0.0
    shifted = with_constant + [50.0, 0.0]
    assert tail_kl_divergence(with_constant, shifted, rarity=rarity) > 3


@pytest.mark.parametrize("magnitude", [1e-300, 1e-150, 1e150, 1e300])
def test_extreme_magnitudes_give_the_scale_free_score(magnitude):
    rng = np.random.RandomState(6)
    x_true, x_model = rng.standard_normal(2000), 1.2 * rng.standard_normal(4000)
    expected = tail_kl_divergence(x_true, x_model)
    assert tail_kl_divergence(x_true * magnitude, x_model * magnitude) == expected
    X_true, X_model = rng.standard_normal((600, 2)), 1.2 * rng.standard_normal((900, 2))
    expected = tail_kl_divergence(X_true, X_model)
    scaled = tail_kl_divergence(X_true * magnitude, X_model * magnitude)
    assert scaled == pytest.approx(expected, rel=1e-6)


def test_data_spanning_the_float_range():
    top = np.finfo(np.float64).max
    x = np.random.RandomState(7).uniform(-1, 1, 500) * top  # max - min overflows
    assert tail_kl_divergence(x, x) == 0.0
    assert 0 < tail_kl_divergence(x, x[::-1] * 0.9) < np.inf


def test_missing_cell_without_smoothing_is_infinite():
    x_true = np.random.RandomState(3).standard_normal(5000)
    x_model = np.concatenate([x_true[x_true > -2.0], [-2.5]])  # one lower tail point
    assert tail_kl_divergence(x_true, x_model, side="lower", smoothing=0) == np.inf
    assert np.isfinite(tail_kl_divergence(x_true, x_model, side="lower"))


def test_draws_beyond_every_true_point_stay_in_the_tail():
    x_true = np.random.RandomState(4).standard_normal(4000)
    far = np.where(x_true < np.quantile(x_true, 0.05), x_true - 100.0, x_true)
    assert tail_kl_divergence(x_true, far, side="lower") > 1.0  # all in the outermost bin
    assert tail_kl_divergence(x_true, far, side="upper") == 0.0


def test_both_sides_penalise_a_model_with_its_whole_tail_on_one_side():
    x_true = np.random.RandomState(5).standard_normal(20000)
    one_sided = np.abs(x_true)
    assert tail_kl_divergence(x_true, one_sided, side="upper") < 0.05
    assert tail_kl_divergence(x_true, one_sided, side="both") > np.log(2)


def test_both_sides_is_the_kl_chain_rule_over_sides():
    rng = np.random.RandomState(6)
    x_true, x_model = rng.standard_normal(40000), 1.1 * rng.standard_t(8, size=40000)
    params = dict(tail_fraction=0.1, bins=5, smoothing=0.0)
    p, q = _histograms_by_hand(x_true, x_model, 0.1, "both", 5)
    p_side = np.array([p[:5].sum(), p[5:].sum()]) / p.sum()
    q_side = np.array([q[:5].sum(), q[5:].sum()]) / q.sum()
    per_side = [tail_kl_divergence(x_true, x_model, side=s, **params) for s in ("lower", "upper")]
    expected = p_side @ per_side + entropy(p_side, q_side)
    assert tail_kl_divergence(x_true, x_model, side="both", **params) == pytest.approx(expected)


def test_multivariate_tail_kl():
    rng = np.random.RandomState(7)
    x_true = rng.standard_normal((1500, 2))
    same = rng.standard_normal((1500, 2))
    squeezed = rng.standard_normal((1500, 2)) * [1.0, 0.5]
    assert tail_kl_divergence(x_true, x_true) == 0.0
    kl_same = tail_kl_divergence(x_true, same)
    assert kl_same == tail_kl_divergence(x_true, same)  # deterministic cells
    assert kl_same < tail_kl_divergence(x_true, squeezed)
    # Same rarity profile, wrong place: only Voronoi cells can see it.
    half_plane = same * np.where(same[:, :1] < 0, -1.0, 1.0)
    assert tail_kl_divergence(x_true, half_plane) > kl_same + 0.3


def test_rarity_callable_defines_the_tail():
    rng = np.random.RandomState(8)
    x_true, x_model = rng.standard_normal((2000, 3)), rng.standard_normal((2000, 3))
    calls = []

    def rarity(X):
        calls.append(X.shape)
        return np.sum(X ** 2, axis=1)  # minus the standard normal log-density, up to constants

    kl = tail_kl_divergence(x_true, x_model, rarity=rarity, tail_fraction=0.1)
    assert calls == [(2000, 3), (2000, 3)]
    wider = tail_kl_divergence(x_true, 2.0 * x_model, rarity=rarity, tail_fraction=0.1)
    assert 0 < kl < wider
    one_d = tail_kl_divergence(x_true[:, 0], x_model[:, 0], rarity=lambda X: np.abs(X[:, 0]))
    assert np.isfinite(one_d) and one_d >= 0


@pytest.mark.parametrize(
    "x_true, x_model, kwargs, match",
    [
        ([0.0, np.nan], [0.0], {}, "x_true contains NaN"),
        ([0.0, 1.0], [np.inf], {}, "x_model contains infinity"),
        ([], [0.0], {}, "x_true is empty"),
        ([0.0], np.zeros((0, 1)), {}, "x_model is empty"),
        (np.zeros((5, 2)), np.zeros((5, 3)), {}, "x_true has 2 features but x_model has 3"),
        (np.zeros((2, 2, 2)), np.zeros(3), {}, "x_true must be 1-D or 2-D"),
        ([0.0, 1.0], [0.0], dict(side="left"), "side must be one of 'lower', 'upper', 'both'"),
        ([0.0, 1.0], [0.0], dict(tail_fraction=0.5), r"tail_fraction must be in \(0, 0.5\)"),
        ([0.0, 1.0], [0.0], dict(tail_fraction=0.0), r"tail_fraction must be in \(0, 0.5\)"),
        ([0.0, 1.0], [0.0], dict(tail_fraction=1.0, side="lower"),
         r"tail_fraction must be in \(0, 1.0\)"),
        ([0.0, 1.0], [0.0], dict(bins=0), "bins must be >= 2"),
        ([0.0, 1.0], [0.0], dict(bins=2.0), "bins must be an integer"),
        ([0.0, 1.0], [0.0], dict(smoothing=-1e-3), r"smoothing must be in \[0, 1\]"),
        ([0.0, 1.0], [0.0], dict(smoothing=2.0), r"smoothing must be in \[0, 1\]"),
        (["a", "b"], [0.0], {}, "x_true must hold real numbers; got an array of dtype <U1"),
        (["1.0", "2.0"], [0.0], {}, "x_true must hold real numbers"),
        ([0.0, 1.0], np.array([1, "x"], dtype=object), {}, "x_model must hold real numbers"),
        ([0.0, 1.0], [1j], {}, "x_model must be an array of real numbers: Complex"),
        (np.zeros((5, 0)), np.zeros((5, 0)), {}, "x_true must be an array of real numbers"),
        ([[0.0, 1.0], [1.0]], [0.0], {}, "x_true must be an array of real numbers"),
        ([0.0, 1.0], [-np.inf], {}, "x_model contains infinity"),
        (np.ones((9, 2)), np.ones((9, 2)), dict(side="lower"), "side must be 'both'"),
        ([0.0, 1.0], [0.0], dict(rarity="kde"), "rarity must be None or a callable"),
        ([0.0, 1.0], [0.0], dict(rarity=lambda X: [1.0]), "one finite score per row of x_true"),
        ([0.0, 1.0], [0.0], dict(rarity=lambda X: ["a"] * len(X)),
         "one finite score per row of x_true; it returned something"),
        ([0.0, 1.0], [0.0], dict(rarity=lambda X: np.full(len(X), np.inf)),
         "one finite score per row of x_true; 2 of its scores are not"),
        ([0.0, 1.0], [0.0], dict(rarity=lambda X: np.full(len(X), np.nan)),
         "one finite score per row of x_true"),
    ],
)
def test_tail_kl_errors(x_true, x_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tail_kl_divergence(x_true, x_model, **kwargs)


def test_tail_kl_takes_tail_fraction_not_tail():
    x = np.random.RandomState(12).standard_normal(2000)
    with pytest.raises(TypeError, match="tail"):
        tail_kl_divergence(x, x, tail=0.1)
    assert tail_kl_divergence(x, x, tail_fraction=0.1) == 0.0


def test_tail_kl_on_collinear_columns_uses_their_span():
    x = np.random.RandomState(9).standard_normal(500)
    X = np.column_stack([x, 2 * x])  # a singular covariance: the KDE lives on the line
    assert tail_kl_divergence(X, X) == 0.0
    along = tail_kl_divergence(X, 1.5 * X)  # heavier tails along the line
    assert along > 0.5
    with pytest.raises(ValueError, match="too few points"):
        tail_kl_divergence(X[:1], X)
    with pytest.raises(ValueError, match="too few points"):  # one row of 30 features
        tail_kl_divergence(x[None, :30], x[None, :30])


# --- rare-event recall and precision -----------------------------------------------------


def test_recall_and_precision():
    y_true = np.array([0, 1, 1, 0, 1, 0])
    y_pred = np.array([1, 1, 0, 0, 1, 0])
    assert rare_event_recall(y_true, y_pred) == pytest.approx(2 / 3)
    assert rare_event_precision(y_true, y_pred) == pytest.approx(2 / 3)
    assert rare_event_recall(y_true.astype(bool), y_true.astype(bool)) == 1.0
    assert rare_event_precision([0, 1], [1, 0]) == 0.0
    assert isinstance(rare_event_recall(y_true, y_pred), float)


def test_recall_without_rare_event_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="y_true has no rare event"):
        assert np.isnan(rare_event_recall([0, 0, 0], [0, 1, 0]))
    with pytest.warns(UndefinedMetricWarning, match="y_pred flags no rare event"):
        assert np.isnan(rare_event_precision([0, 1, 0], [0, 0, 0]))


@pytest.mark.parametrize(
    "y_true, y_pred, match",
    [
        ([0, 2, 1], [0, 1, 1], r"y_true must contain only 0 and 1 \(1 = rare\)"),
        ([0, 1, 1], [-1, 1, 1], "y_pred must contain only 0 and 1"),
        ([0, 1], [0, 1, 1], "same length"),
        ([], [], r"y_true must be a non-empty 1-D array; got shape \(0,\)"),
        ([[0, 1]], [[0, 1]], r"y_true must be 1-D or a single column .* got shape \(1, 2\). "
                             "It is a single row"),
        ([0, np.nan], [0, 1], "y_true contains NaN"),
        ([0, 1], [0, np.inf], "y_pred contains infinity"),
        (["0", "1"], [0, 1], "y_true must hold real numbers; got an array of dtype <U1"),
        ([0, 1], np.array(["a", 1], dtype=object), "y_pred must hold real numbers"),
        ([0, 0.5], [0, 1], r"y_true must contain only 0 and 1 \(1 = rare\); got values "
                           r"\[0.0, 0.5\]"),
    ],
)
def test_recall_errors(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        rare_event_recall(y_true, y_pred)


# --- intervals --------------------------------------------------------------------------


def test_coverage_agrees_with_mapie():
    from mapie.metrics.regression import regression_coverage_score

    rng = np.random.RandomState(10)
    y = rng.standard_normal(500)
    centre = y + rng.normal(0, 0.5, size=500)
    intervals = np.column_stack([centre - 0.8, centre + 0.8])
    intervals[:5] = y[:5, None]  # closed bounds: y on both edges counts as covered
    expected = regression_coverage_score(y, intervals)[0]
    assert interval_coverage(y, intervals) == pytest.approx(expected)
    assert coverage_error(y, intervals, 0.9) == pytest.approx(abs(expected - 0.9))


def test_coverage_values_and_infinite_bounds():
    y = [0.0, 1.0, 2.0, 3.0]
    intervals = [[0.0, 0.0], [-np.inf, 0.5], [1.0, np.inf], [-np.inf, np.inf]]
    assert interval_coverage(y, intervals) == 0.75
    assert coverage_error(y, intervals, 0.75) == 0.0


@pytest.mark.parametrize(
    "y, intervals, match",
    [
        ([0.0, 1.0], [[0.0, 1.0]], r"intervals must have shape \(n_samples, 2\) = \(2, 2\)"),
        ([0.0], [[0.0, 1.0, 2.0]], "intervals must have shape"),
        ([0.0], [[1.0, 0.0]], "lower bounds <= upper bounds"),
        ([0.0, 1.0], [[0.0, 1.0], [2.0, 1.0]], r"1 row\(s\) do not, the first row 1 with "
                                               r"\[2.0, 1.0\]"),
        ([0.0], [[np.nan, 0.0]], "intervals contains NaN"),
        ([np.nan], [[0.0, 1.0]], "y_true contains NaN"),
        ([np.inf], [[0.0, np.inf]], "y_true contains infinity"),
        ([], np.zeros((0, 2)), "y_true must be a non-empty 1-D array"),
        ([0.0, 1.0, 2.0], np.zeros((2, 3)), r"got \(2, 3\) \(transposed\?\)"),
        ([0.0, 1.0, 2.0], np.zeros((3, 2, 1)), r"got \(3, 2, 1\) \(MAPIE's intervals, of "
                                               r"shape \(n_samples, 2, n_confidence_levels\)\? "
                                               r"Pass those of one level, y_pis\[:, :, 0\]\)"),
        ([0.0], [0.0, 1.0], r"intervals must have shape \(n_samples, 2\) = \(1, 2\); got "
                            r"\(2,\)"),
        (["0.5"], [[0.0, 1.0]], "y_true must hold real numbers"),
        ([0.5], [["0", "1"]], "intervals must hold real numbers"),
    ],
)
def test_coverage_errors(y, intervals, match):
    with pytest.raises(ValueError, match=match):
        interval_coverage(y, intervals)


def test_coverage_of_single_rows_and_other_real_dtypes():
    assert interval_coverage([1], [[0, 2]]) == 1.0
    assert interval_coverage(np.array([True, False]), [[0.5, 1.0], [0, 0]]) == 1.0
    assert interval_coverage(np.float32([0.5]), np.float32([[0.6, 1.0]])) == 0.0
    assert interval_coverage(np.array([0.5], dtype=object), [[-np.inf, np.inf]]) == 1.0


@pytest.mark.parametrize("coverage", [0.0, 1.0, 90, "0.9"])
def test_coverage_error_rejects_bad_nominal_level(coverage):
    with pytest.raises(ValueError, match="coverage must"):
        coverage_error([0.0], [[0.0, 1.0]], coverage)


def test_model_scores_may_be_infinite_and_land_in_the_deepest_cells():
    rng = np.random.RandomState(11)
    x_true = rng.standard_normal((1000, 2))
    x_model = x_true.copy()
    x_model[:20] = 1e6  # far beyond every true point

    def rarity(X):
        return np.where(np.abs(X).max(axis=1) > 1e5, np.inf, np.sum(X ** 2, axis=1))

    kl = tail_kl_divergence(x_true, x_model, rarity=rarity)
    assert np.isfinite(kl) and kl > 0
    with pytest.raises(ValueError, match="one finite score per row of x_true"):
        tail_kl_divergence(x_model, x_true, rarity=rarity)


# --- one series as a single column ----------------------------------------------------


def _one_series_cases():
    """Every metric on one series: (name, call(series_argument), argument name)."""
    from skqegm.metrics import (
        acerbi_szekely_test,
        christoffersen_conditional_coverage_test,
        christoffersen_independence_test,
        diebold_mariano_test,
        fz0_loss,
        kupiec_pof_test,
        var_exceedances,
        var_pinball_loss,
    )

    rng = np.random.RandomState(0)
    y = rng.standard_normal(40)
    flags = (np.arange(40) % 7 == 0).astype(int)
    draws = rng.standard_normal((40, 50))
    centre = y + rng.standard_normal(40)
    intervals = np.column_stack([centre - 1.5, centre + 1.5])
    return [
        ("fz0_loss:y", lambda v: fz0_loss(v, 1.5, 2.0, 0.975), y, "y"),
        ("fz0_loss:var", lambda v: fz0_loss(y, v, 2.0, 0.975), np.full(40, 1.5), "var"),
        ("fz0_loss:es", lambda v: fz0_loss(y, 1.5, v, 0.975), np.full(40, 2.0), "es"),
        ("var_pinball_loss:y", lambda v: var_pinball_loss(v, 1.5, 0.975), y, "y"),
        ("var_pinball_loss:var", lambda v: var_pinball_loss(y, v, 0.975), np.full(40, 1.5),
         "var"),
        ("var_exceedances:y", lambda v: var_exceedances(v, 1.0).tolist(), y, "y"),
        ("var_exceedances:var", lambda v: var_exceedances(y, v).tolist(), np.full(40, 1.0),
         "var"),
        ("kupiec_pof_test", lambda v: kupiec_pof_test(v, 0.9), flags, "exceedances"),
        ("christoffersen_independence_test", christoffersen_independence_test, flags,
         "exceedances"),
        ("christoffersen_conditional_coverage_test",
         lambda v: christoffersen_conditional_coverage_test(v, 0.9), flags, "exceedances"),
        ("acerbi_szekely_test", lambda v: acerbi_szekely_test(
            v, 1.96, 2.34, 0.975, draws, n_simulations=20, random_state=0), y, "y"),
        ("diebold_mariano_test:a", lambda v: diebold_mariano_test(v, y ** 2), np.abs(y),
         "loss_a"),
        ("diebold_mariano_test:b", lambda v: diebold_mariano_test(np.abs(y), v), y ** 2,
         "loss_b"),
        ("interval_coverage", lambda v: interval_coverage(v, intervals), y, "y_true"),
        ("coverage_error", lambda v: coverage_error(v, intervals, 0.9), y, "y_true"),
        ("rare_event_recall:true", lambda v: rare_event_recall(v, flags[::-1]), flags,
         "y_true"),
        ("rare_event_precision:pred", lambda v: rare_event_precision(flags, v), flags[::-1],
         "y_pred"),
    ]


@pytest.mark.parametrize("name, metric, series, argument", _one_series_cases(),
                         ids=[case[0] for case in _one_series_cases()])
def test_every_metric_reads_a_single_column_as_one_series(name, metric, series, argument):
    # scikit-learn's metrics take y of shape (n, 1) (a df[["target"]], a predict that keeps
    # two dimensions) as one series; the metrics refused it, so the risk scorers scored every
    # candidate of a grid search on a one-column y as NaN.
    pd = pytest.importorskip("pandas")
    expected = metric(series)
    assert metric(series[:, None]) == expected
    assert metric(pd.DataFrame({"target": series}, index=np.arange(40)[::-1])) == expected
    # Several columns are several series: refused, naming the argument.
    allowed = ("a number or have the shape of y \\(40,\\) \\(or \\(40, 1\\)\\); got"
               if argument in ("var", "es") else
               "1-D or a single column of shape \\(n_samples, 1\\); got shape")
    with pytest.raises(ValueError, match=rf"^{argument} must be {allowed} \(40, 2\)"):
        metric(np.column_stack([series, series]))
    with pytest.raises(ValueError, match=rf"^{argument} must be {allowed} \(1, 40\)"):
        metric(series[None, :])


@pytest.mark.parametrize("name, metric, series, argument", _one_series_cases(),
                         ids=[case[0] for case in _one_series_cases()])
def test_every_metric_says_a_series_of_none_is_missing(name, metric, series, argument):
    # numpy reads None as NaN: "y contains NaN." for a y that was never passed.
    with pytest.raises(ValueError, match=rf"^{argument} must be an array of real numbers; "
                                         "got None"):
        metric(None)


@pytest.mark.parametrize("call, argument", [
    (lambda: interval_coverage([0.0], None), "intervals"),
    (lambda: tail_kl_divergence(None, np.zeros(10)), "x_true"),
    (lambda: tail_kl_divergence(np.zeros(10), None), "x_model"),
])
def test_other_arrays_of_none_are_missing(call, argument):
    with pytest.raises(ValueError, match=rf"^{argument} must be an array of real numbers; "
                                         "got None"):
        call()
