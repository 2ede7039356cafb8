"""The package's main job, ``python -m skqegm`` (console script ``skqegm``).

Fits a :class:`~skqegm.TailRiskEstimator` and its classical twin to next-day returns
given lagged returns and rolling volatilities, then backtests their Value-at-Risk and
expected shortfall on the later, held-out days beside 250-day historical simulation.

Every input (the CSV, its dates, the kind of series, the held-out split, the plot path
and the model options) is validated before anything is fitted or printed, so that a bad
input costs one line on standard error and leaves nothing half-written. The CSV is read
by :func:`skqegm.cli._series.load_series`; that module's docstring states its rules.
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..baselines import historical_simulation
from ..datasets import load_sp500_dates, load_sp500_returns
from ..exceptions import DivergenceWarning, ExtrapolationWarning
from ..metrics import (
    christoffersen_conditional_coverage_test,
    interval_coverage,
    kupiec_pof_test,
    make_tail_kl_scorer,
    rare_event_recall_scorer,
    var_exceedances,
)
from ..models import TailRiskEstimator
from ..preprocessing import make_lagged_features
from ._series import KINDS, Series, load_series, parse_date

LEVELS = (0.975, 0.99)
HS_WINDOW = 250
# A full historical-simulation window before the first held-out day, and 2 held-out days.
MIN_RETURNS = HS_WINDOW + 2
SP500_TEST_START = "2015-01-01"
# Bounds of the model options. The job runs on the exact simulator, whose state holds
# 2**n_qubits amplitudes per row: beyond 12 qubits a fit of the conditional model (one
# circuit per row and epoch) is impractical.
MAX_QUBITS = 12
MAX_LAYERS = 20
MAX_EPOCHS = 100_000
_NOT_PLOTTABLE = {"pgf"}  # matplotlib writes it only with a LaTeX installation


class _Parser(argparse.ArgumentParser):
    """argparse's parser, with errors on one line like the job's own (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_in(low, high):
    """An argparse type: an integer in ``[low, high]``, refused at parse time otherwise."""

    def integer(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in [{low}, {high}]; got {value}")
        return value

    return integer


def _fraction(text):
    """An argparse type: a float strictly between 0 and 1 (NaN refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be in (0, 1); got {text}")
    return value


def _build_parser():
    parser = _Parser(
        prog="skqegm",
        description=(
            "Tail risk of a return series with skqegm's TailRiskEstimator (quantum latent) "
            "and its classical twin (Gaussian latent): VaR and expected shortfall at 97.5% "
            "and 99%, backtested on held-out days (exceedances, Kupiec and Christoffersen "
            "p-values) beside 250-day historical simulation, with tail KL, rare-event "
            "recall and 90% interval coverage, and a plot. Without --csv it runs on the "
            "S&P 500 daily returns shipped with the package (fit 1999-2014, test 2015-2018)."
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument("--csv", metavar="FILE",
                      help="a UTF-8 CSV file with a header row, separated by commas, "
                           "semicolons, tabs or | (with the last three, decimal commas are "
                           "read too); default: the S&P 500 series")
    data.add_argument("--column", metavar="NAME",
                      help="the CSV column holding the series (required with --csv)")
    data.add_argument("--kind", choices=KINDS, default="auto",
                      help="prices (turned into log returns) or returns; auto decides from "
                           "the whole column: prices when every value is positive and moves "
                           "like a price level, returns when the values are centred near 0 "
                           "with both signs, an error otherwise (default: auto)")
    data.add_argument("--date-column", metavar="NAME",
                      help="CSV column of dates YYYY-MM-DD, optionally with a time "
                           "HH:MM[:SS], oldest or newest first; default: a column named "
                           "'date', 'datetime' or 'timestamp', if any")
    split = parser.add_argument_group("held-out period")
    split.add_argument("--test-start", metavar="YYYY-MM-DD",
                       help="first held-out day (needs dates; default for the S&P 500: "
                            f"{SP500_TEST_START})")
    split.add_argument("--test-fraction", type=_fraction, default=0.2, metavar="F",
                       help="the last fraction F of the days, 0 < F < 1, is held out when "
                            "there is no --test-start (default: 0.2)")
    model = parser.add_argument_group("model")
    model.add_argument("--n-qubits", type=_int_in(1, MAX_QUBITS), default=4,
                       help=f"qubits of the quantum layer, 1 to {MAX_QUBITS}: the job runs on "
                            "the exact simulator, whose state holds 2**n_qubits amplitudes "
                            f"per row, and beyond {MAX_QUBITS} qubits a fit of the conditional "
                            "model is impractical (default: 4)")
    model.add_argument("--n-layers", type=_int_in(1, MAX_LAYERS), default=3,
                       help=f"ansatz layers, 1 to {MAX_LAYERS} (default: 3)")
    model.add_argument("--max-epochs", type=_int_in(1, MAX_EPOCHS), default=200,
                       help=f"training epochs at most, 1 to {MAX_EPOCHS}; early stopping ends "
                            "sooner (default: 200)")
    model.add_argument("--seed", type=_int_in(0, 2**32 - 1), default=0,
                       help="random seed, 0 <= seed < 2**32 (default: 0)")
    output = parser.add_argument_group("output")
    output.add_argument("--plot", metavar="FILE", default="skqegm_var_backtest.png",
                        help="image of the returns, 99%% VaR lines and exceedances; its "
                             "suffix (.png, .pdf, .svg, ...) sets the format (default: "
                             "skqegm_var_backtest.png)")
    output.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="print the training loss of every epoch")
    return parser


# -- the series -------------------------------------------------------------------------------
def _series_of(args):
    """The series the parsed arguments name: the user's CSV, else the shipped S&P 500."""
    if args.csv is None:
        if args.column is not None:
            raise ValueError("--column needs --csv.")
        returns, dates = load_sp500_returns(), load_sp500_dates()
        return Series("S&P 500 daily log returns", "returns", returns, dates, returns, dates,
                      ())
    if args.column is None:
        raise ValueError("--csv needs --column NAME (the column holding the series).")
    return load_series(args.csv, args.column, args.date_column, args.kind)


def _plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- the held-out split -----------------------------------------------------------------------
def _check_length(series):
    n = len(series.returns)
    if n < MIN_RETURNS:
        what = _plural(n, "return")
        if series.kind == "prices":
            what = f"{_plural(len(series.values), 'price')}, i.e. {what}"
        raise ValueError(f"the series is too short: {what}; the backtest needs at least "
                         f"{MIN_RETURNS} returns ({HS_WINDOW} for the historical-simulation "
                         "window before the first held-out day, and 2 held-out days).")
    if np.ptp(series.returns) == 0:
        raise ValueError(f"the returns are constant (every one is {series.returns[0]:g}): a "
                         "tail model needs returns that vary.")


def _parse_test_start(text):
    date = parse_date(text.strip())
    if date is None:
        raise ValueError(f"--test-start must be a date YYYY-MM-DD; got {text!r}.")
    return np.datetime64(date, "s")


def _first_test_row(row_dates, n_rows, min_first, series, args):
    """Index of the first held-out row of the feature matrix, or a ValueError.

    ``min_first`` is the first row with a full historical-simulation window behind it;
    ``--test-fraction`` is moved up to it, a ``--test-start`` before it is refused.
    """
    test_start = args.test_start
    if test_start is None and args.csv is None:
        test_start = SP500_TEST_START
    if test_start is None:
        first = max(int(round(n_rows * (1 - args.test_fraction))), min_first)
        if first > n_rows - 2:
            raise ValueError(f"--test-fraction {args.test_fraction} holds out "
                             f"{_plural(n_rows - first, 'row')} of the {n_rows} rows of "
                             "features, too few: at least 2 are needed.")
        return first
    if row_dates is None:
        raise ValueError("--test-start needs dates: pass --date-column.")
    start = _parse_test_start(test_start)
    if not series.dates[0] <= start <= series.dates[-1]:
        raise ValueError(f"--test-start {test_start} is outside the data, which runs from "
                         f"{series.dates[0]} to {series.dates[-1]}.")
    first = int(np.searchsorted(row_dates, start))
    if first < min_first:
        raise ValueError(f"--test-start {test_start} is too early: historical simulation "
                         f"needs {HS_WINDOW} earlier returns, so the held-out days can start "
                         f"on {row_dates[min_first]} at the earliest.")
    if first > n_rows - 2:
        raise ValueError(f"--test-start {test_start} holds out "
                         f"{_plural(n_rows - first, 'day')}, too few: at least 2 are needed, "
                         f"so start on {row_dates[n_rows - 2]} at the latest.")
    return first


# -- the plot ---------------------------------------------------------------------------------
def _plot_target(args):
    """``(path, note)``: where the plot goes (``None``: no plot) and why it is skipped.

    Checked before the job, so that a plot that cannot be written stops it at once
    rather than after minutes of fitting.
    """
    if args.no_plot:
        return None, None
    try:
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        return None, "Plot skipped: matplotlib is not installed (pip install skqegm[plot])."
    path = Path(args.plot)
    folder = path.parent
    if not folder.is_dir():
        raise ValueError(f"--plot {args.plot}: the folder {folder} does not exist.")
    if path.is_dir():
        raise ValueError(f"--plot {args.plot} is a folder, not a file name.")
    formats = sorted(set(FigureCanvasBase.get_supported_filetypes()) - _NOT_PLOTTABLE)
    if path.suffix.lower()[1:] not in formats:
        raise ValueError(f"--plot {args.plot} must end in the suffix of a format matplotlib "
                         f"writes: {', '.join('.' + name for name in formats)}.")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists()
                                                   and not os.access(path, os.W_OK)):
        raise ValueError(f"--plot {args.plot} cannot be written: permission denied.")
    return args.plot, None


def _save_plot(path, results, y, dates, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plotting import plot_var_backtest

    ax = plot_var_backtest(y, {name: r[0.99][0] for name, r in results.items()}, dates=dates,
                           title=title)
    ax.figure.tight_layout()
    try:
        ax.figure.savefig(path, dpi=120)
    except OSError as exc:  # checked up front, but the disk may fill up meanwhile
        raise ValueError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(ax.figure)
    print(f"Plot of the 99% VaR backtest written to {path}")


# -- models -----------------------------------------------------------------------------------
def _make_models(args):
    """The two estimators; their options were bounded when the arguments were parsed."""
    settings = dict(n_qubits=args.n_qubits, n_layers=args.n_layers, max_epochs=args.max_epochs,
                    verbose=int(args.verbose), random_state=args.seed)
    return {
        "QEGM (quantum)": TailRiskEstimator(**settings),
        "twin (Gaussian)": TailRiskEstimator(latent="gaussian", **settings),
    }


def _fit_note(caught):
    """What the warnings of a fit say, for its progress line."""
    categories = [w.category for w in caught]
    if any(issubclass(c, DivergenceWarning) for c in categories):
        return ", diverged: its figures below are unreliable"
    if any(issubclass(c, ConvergenceWarning) for c in categories):
        return ", still improving: consider a larger --max-epochs"
    return ""


def _evaluate(model, X, y):
    """The table's figures for a fitted TailRiskEstimator on held-out rows."""
    row = {}
    for level in LEVELS:
        row[level] = (model.predict_var(X, level), model.predict_es(X, level))
    row["interval"] = model.predict_interval(X, 0.9)
    row["tail_kl"] = -make_tail_kl_scorer(tail_fraction=0.05, side="lower")(model, X, y)
    row["recall"] = rare_event_recall_scorer(model, X, y)
    return row


def _table_rows(results, y):
    """``(label, one formatted cell per model)`` for every line of the printed table."""
    columns = []
    for r in results.values():
        cells = {}
        for level in LEVELS:
            pct = f"{100 * level:g}%"
            var, es = r[level]
            hits = var_exceedances(y, var)
            cells[f"VaR {pct}, mean (%)"] = f"{100 * var.mean():.2f}"
            cells[f"ES {pct}, mean (%)"] = f"{100 * es.mean():.2f}"
            cells[f"exceedances {pct} (expected {(1 - level) * len(y):.1f})"] = \
                f"{hits.sum()} ({100 * hits.mean():.2f}%)"
            cells[f"  Kupiec p {pct}"] = f"{kupiec_pof_test(hits, level).p_value:.3f}"
            p_value = christoffersen_conditional_coverage_test(hits, level).p_value
            cells[f"  Christoffersen p {pct}"] = f"{p_value:.3f}"
        cells["tail KL, lower 5% (lower is better)"] = _optional(r["tail_kl"], ".3f")
        cells["rare-event recall (2.5% tail)"] = _optional(r["recall"], ".2f")
        cells["90% interval coverage"] = f"{interval_coverage(y, r['interval']):.3f}"
        columns.append(cells)
    return [(label, [cells[label] for cells in columns]) for label in columns[0]]


def _optional(value, spec):
    return "—" if value is None else format(value, spec)


def _print_table(results, y):
    rows = _table_rows(results, y)
    width = max(len(label) for label, _ in rows) + 2
    columns = [max(len(name), 16) + 2 for name in results]
    print("".ljust(width) + "".join(name.rjust(w) for name, w in zip(results, columns)))
    for label, cells in rows:
        print(label.ljust(width) + "".join(cell.rjust(w) for cell, w in zip(cells, columns)))


# -- the job ----------------------------------------------------------------------------------
class _Job(NamedTuple):
    """Everything the job needs, validated before anything is fitted or printed."""

    series: Series
    X: np.ndarray
    y: np.ndarray
    offset: int  # rows of X start at this return
    first: int  # the first held-out row of X
    row_dates: "np.ndarray | None"  # of the rows of X
    plot: "str | None"
    plot_note: "str | None"
    models: dict


def _prepare(args):
    """The :class:`_Job` of the parsed arguments, or a ValueError from any input."""
    series = _series_of(args)
    _check_length(series)
    X, y = make_lagged_features(series.returns)
    offset = len(series.returns) - len(y)
    row_dates = None if series.return_dates is None else series.return_dates[offset:]
    first = _first_test_row(row_dates, len(y), HS_WINDOW - offset, series, args)
    plot, plot_note = _plot_target(args)
    return _Job(series, X, y, offset, first, row_dates, plot, plot_note, _make_models(args))


def _run(args):
    start = time.perf_counter()
    job = _prepare(args)
    first, row_dates, series = job.first, job.row_dates, job.series
    X_train, y_train = job.X[:first], job.y[:first]
    X_test, y_test = job.X[first:], job.y[first:]
    span = "" if row_dates is None else f" ({row_dates[0]} to {row_dates[first - 1]})"
    test_span = "" if row_dates is None else f" ({row_dates[first]} to {row_dates[-1]})"
    print(f"skqegm: tail risk of {series.name}")
    for note in series.notes + ((job.plot_note,) if job.plot_note else ()):
        print(note)
    print(f"features: lags 1, 2, 5 and 5- and 22-day volatilities; fit on {first} days{span}, "
          f"test on {len(y_test)} days{test_span}\n")

    results = {}
    for i, (label, model) in enumerate(job.models.items(), start=1):
        print(f"[{i}/3] fitting {label} ...", end="" if not args.verbose else "\n", flush=True)
        tic = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            warnings.simplefilter("always", ExtrapolationWarning)
            model.fit(X_train, y_train)
            results[label] = _evaluate(model, X_test, y_test)
        print(f" done in {time.perf_counter() - tic:.1f} s ({model.n_iter_} epochs"
              f"{_fit_note(caught)})")
        for message in {str(w.message) for w in caught
                        if issubclass(w.category, ExtrapolationWarning)}:
            print(f"  note: {message}")
    print(f"[3/3] historical simulation ({HS_WINDOW}-day window) ...", flush=True)
    hs, interval = historical_simulation(series.returns, job.offset + first, LEVELS, HS_WINDOW)
    results[f"HS {HS_WINDOW} days"] = {**hs, "interval": interval, "tail_kl": None,
                                       "recall": None}
    print()
    _print_table(results, y_test)
    if job.plot is not None:
        print()
        _save_plot(job.plot, results, y_test,
                   None if row_dates is None else row_dates[first:],
                   f"{series.name}: 99% VaR on held-out days")
    elif job.plot_note is not None:
        print(f"\n{job.plot_note}")
    print(f"\nFinished in {time.perf_counter() - start:.0f} s.")
    return 0


def main(argv=None):
    """Run the main job; returns the exit code (2 on bad input, with a one-line message).

    Reads and validates every input first (the CSV, its dates and kind, the held-out
    split, the plot path, the model options), then fits the quantum
    :class:`~skqegm.TailRiskEstimator` and its classical twin on the earlier days of the
    series, prints the backtest table of their VaR and expected shortfall on the held-out
    days beside historical simulation, and saves the plot unless ``--no-plot``. Run
    ``python -m skqegm --help`` for the options.

    Parameters
    ----------
    argv : list of str or None, default=None
        The command-line arguments, without the program name; ``None`` reads
        ``sys.argv[1:]``.

    Returns
    -------
    exit_code : int
        0 on success; 2 when the data or the options are unusable (a ``ValueError`` or
        ``ImportError`` of the job), after printing the one line
        ``skqegm: error: <message>`` on standard error; such inputs are found before
        anything is fitted or printed on standard output.

    Raises
    ------
    SystemExit
        From the argument parser: code 2 for arguments it cannot parse (after the one
        line ``skqegm: error: <message>``), 0 after ``--help``.

    Examples
    --------
    A tiny run on 280 daily returns in a CSV file (a real one takes minutes):

    >>> import contextlib, io, os, tempfile
    >>> import numpy as np
    >>> from skqegm.cli import main
    >>> returns = np.random.default_rng(0).standard_t(4, size=280) / 100
    >>> returns[-5] = -0.1  # a crash on a held-out day
    >>> out, err = io.StringIO(), io.StringIO()
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "returns.csv")
    ...     with open(path, "w") as handle:
    ...         _ = handle.write("ret\\n" + "\\n".join(map(str, returns)))
    ...     with contextlib.redirect_stdout(out):
    ...         code = main(["--csv", path, "--column", "ret", "--test-fraction", "0.1",
    ...                      "--n-qubits", "2", "--n-layers", "1", "--max-epochs", "2",
    ...                      "--no-plot"])
    ...     with contextlib.redirect_stderr(err):
    ...         bad_code = main(["--csv", path])
    >>> code
    0
    >>> print("\\n".join(out.getvalue().splitlines()[1:3]))
    kind: returns (centred near 0: 50% negative, 50% positive; median |value| 0.00704)
    features: lags 1, 2, 5 and 5- and 22-day volatilities; fit on 232 days, test on 26 days
    >>> bad_code, err.getvalue().strip()
    (2, 'skqegm: error: --csv needs --column NAME (the column holding the series).')
    """
    args = _build_parser().parse_args(argv)
    try:
        return _run(args)
    except (ValueError, ImportError) as exc:
        message = " ".join(str(exc).split())
        print(f"skqegm: error: {message}", file=sys.stderr)
        return 2
