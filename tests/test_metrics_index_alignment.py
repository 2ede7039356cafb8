"""Paired pandas inputs with differing indexes are refused, not paired by position."""

import numpy as np
import pandas as pd
import pytest

from skqegm.metrics import (
    acerbi_szekely_test,
    coverage_error,
    diebold_mariano_test,
    fz0_loss,
    interval_coverage,
    kupiec_pof_test,
    rare_event_precision,
    rare_event_recall,
    var_exceedances,
    var_pinball_loss,
)

DATES = pd.bdate_range("2024-01-01", periods=6)
Y = pd.Series([0.01, -0.03, -0.01, 0.04, -0.02, 0.005], index=DATES)
VAR = pd.Series([0.02, 0.02, 0.025, 0.02, 0.015, 0.02], index=DATES)
FLAGS = pd.Series([0, 1, 0, 1, 1, 0], index=DATES)
BOUNDS = pd.DataFrame({"lower": Y - 0.01, "upper": Y + 0.01}, index=DATES)
DRAWS = np.random.default_rng(0).normal(0.0, 0.02, size=(6, 50))

CALLS = {
    "var_exceedances": lambda y, v: var_exceedances(y, v),
    "fz0_loss": lambda y, v: fz0_loss(y, v, 1.5 * v, 0.975),
    "var_pinball_loss": lambda y, v: var_pinball_loss(y, v, 0.99),
    "acerbi_szekely_test": lambda y, v: acerbi_szekely_test(
        y, v, 1.5 * v, 0.975, DRAWS, n_simulations=50, random_state=0),
    "diebold_mariano_test": lambda y, v: diebold_mariano_test(np.abs(y), v),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
@pytest.mark.parametrize("other", ["reversed", "a day off"])
def test_differing_indexes_are_refused(call, other):
    # A VaR sorted otherwise, or dated a day off, was scored against other days' returns.
    var = VAR[::-1] if other == "reversed" else VAR.set_axis(DATES + pd.offsets.BDay(1))
    with pytest.raises(ValueError, match=r"different indexes.*\.reindex\("):
        call(Y, var)


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS)
def test_equal_or_default_indexes_pass(call):
    expected = call(Y.to_numpy(), VAR.to_numpy())
    for y, var in [(Y, VAR), (Y, VAR.reset_index(drop=True)), (Y, VAR.to_numpy())]:
        np.testing.assert_equal(call(y, var), expected)


def test_message_names_both_arguments():
    with pytest.raises(ValueError, match=r"^y and var have different indexes"):
        var_exceedances(Y, VAR[::-1])
    with pytest.raises(ValueError, match=r"^y and es have different indexes"):
        fz0_loss(Y, VAR.to_numpy(), 1.5 * VAR[::-1], 0.975)
    with pytest.raises(ValueError, match=r"^loss_a and loss_b have different indexes"):
        diebold_mariano_test(Y.abs(), VAR[::-1])


OTHER_CALLS = {
    "rare_event_recall": lambda f: rare_event_recall(FLAGS, f),
    "rare_event_precision": lambda f: rare_event_precision(FLAGS, f),
    "sample_weight": lambda f: rare_event_recall(FLAGS, FLAGS.to_numpy(), sample_weight=f),
    "interval_coverage": lambda f: interval_coverage(Y, BOUNDS.set_axis(f.index)),
    "coverage_error": lambda f: coverage_error(Y, BOUNDS.to_numpy(), 0.9, sample_weight=f + 1),
}


@pytest.mark.parametrize("call", OTHER_CALLS.values(), ids=OTHER_CALLS)
def test_flags_intervals_and_weights(call):
    assert np.isfinite(call(FLAGS))  # the same index: accepted
    with pytest.raises(ValueError, match="different indexes"):
        call(FLAGS.set_axis(DATES + pd.offsets.BDay(1)))


def test_kupiec_on_shifted_var_was_plausible():
    # The reproducer of the CHANGELOG: exceedances computed from a VaR a day off.
    with pytest.raises(ValueError, match="different indexes"):
        kupiec_pof_test(var_exceedances(Y[1:], VAR[:-1]), 0.99)
