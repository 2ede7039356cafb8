"""The plots render to a file and draw what they say."""

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

from sklearn.mixture import GaussianMixture  # noqa: E402

from skqegm.baselines import GANSampler  # noqa: E402
from skqegm.datasets import make_tail_mixture  # noqa: E402
from skqegm.plotting import (  # noqa: E402
    plot_coverage_calibration,
    plot_tail_density,
    plot_var_backtest,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _saved(ax, path):
    ax.figure.savefig(path)
    matplotlib.pyplot.close(ax.figure)
    return path.read_bytes()[:8] == PNG


def test_tail_density_draws_densities_and_kde_of_draws(tmp_path):
    X, _ = make_tail_mixture(3000, random_state=0)
    gmm = GaussianMixture(3, random_state=0).fit(X)
    gan = GANSampler(hidden_layer_sizes=(8,), max_epochs=1, random_state=0).fit(X)
    ax = plot_tail_density(X, {"gmm": gmm, "gan": gan}, side="lower", tail_fraction=0.1,
                           log=True)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["data", "gmm", "gan (KDE of draws)", "tail regions (10% per side)"]
    gmm_line = ax.get_lines()[0]
    grid, density = gmm_line.get_data()
    np.testing.assert_allclose(density, np.exp(gmm.score_samples(grid.reshape(-1, 1))))
    # One shaded region, ending at the data's 10% quantile.
    spans = [p for p in ax.patches if p.get_label().startswith("tail regions")]
    assert len(spans) == 1
    assert spans[0].get_x() + spans[0].get_width() == pytest.approx(np.quantile(X, 0.1))
    assert ax.get_yscale() == "log"
    assert _saved(ax, tmp_path / "density.png")


def test_coverage_calibration_draws_means_with_intervals(tmp_path):
    runs = np.array([[0.78, 0.88, 0.96], [0.82, 0.90, 0.94], [0.80, 0.92, 0.95]])
    ax = plot_coverage_calibration([0.8, 0.9, 0.95], {"a": runs, "b": [0.7, 0.85, 0.9]},
                                   title="calibration")
    assert ax.get_legend_handles_labels()[1] == ["ideal", "a", "b"]
    means = ax.get_lines()[1].get_ydata()
    np.testing.assert_allclose(means, runs.mean(axis=0))
    assert ax.get_title() == "calibration"
    assert _saved(ax, tmp_path / "coverage.png")
    with pytest.raises(ValueError, match=r"empirical\['a'\] has 2 levels; nominal has 3"):
        plot_coverage_calibration([0.8, 0.9, 0.95], {"a": [0.8, 0.9]})


def test_var_backtest_marks_each_exceedance(tmp_path):
    r = np.array([0.01, -0.05, 0.0, -0.02, -0.06])
    ax = plot_var_backtest(r, {"flat": np.full(5, 0.03)}, title="backtest")
    assert ax.get_legend_handles_labels()[1][1] == "flat (2 exceedances)"
    rings = ax.collections[0].get_offsets()
    np.testing.assert_allclose(rings[:, 1], [-0.05, -0.06])
    assert _saved(ax, tmp_path / "var.png")
