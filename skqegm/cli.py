"""The package's main job, ``python -m skqegm`` (console script ``skqegm``).

Fits a :class:`~skqegm.TailRiskEstimator` and its classical twin to next-day returns
given lagged returns and rolling volatilities, then backtests their Value-at-Risk and
expected shortfall on the later, held-out days beside 250-day historical simulation.
"""

import argparse
import csv
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .baselines import historical_simulation
from .datasets import load_sp500_dates, load_sp500_returns
from .metrics import (
    christoffersen_conditional_coverage_test,
    interval_coverage,
    kupiec_pof_test,
    make_tail_kl_scorer,
    rare_event_recall_scorer,
    var_exceedances,
)
from .models import TailRiskEstimator
from .preprocessing import log_returns, make_lagged_features

LEVELS = (0.975, 0.99)
HS_WINDOW = 250
SP500_TEST_START = "2015-01-01"
KINDS = ("auto", "prices", "returns")


def _positive_int(text):
    """An argparse type: an integer >= 1, refused at parse time with argparse's message."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1; got {value}")
    return value


def _build_parser():
    parser = argparse.ArgumentParser(
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
                      help="a CSV file with a header row; default: the S&P 500 series")
    data.add_argument("--column", metavar="NAME",
                      help="the CSV column holding the series (required with --csv)")
    data.add_argument("--kind", choices=KINDS, default="auto",
                      help="prices (turned into log returns) or returns; auto: prices when "
                           "every value is positive (default: auto)")
    data.add_argument("--date-column", metavar="NAME",
                      help="CSV column of ISO dates (YYYY-MM-DD); default: a column named "
                           "'date', if any")
    split = parser.add_argument_group("held-out period")
    split.add_argument("--test-start", metavar="YYYY-MM-DD",
                       help="first held-out day (needs dates; default for the S&P 500: "
                            f"{SP500_TEST_START})")
    split.add_argument("--test-fraction", type=float, default=0.2, metavar="F",
                       help="the last fraction F of the days is held out when there is no "
                            "--test-start (default: 0.2)")
    model = parser.add_argument_group("model")
    model.add_argument("--n-qubits", type=_positive_int, default=4,
                       help="qubits of the quantum layer (default: 4)")
    model.add_argument("--n-layers", type=_positive_int, default=3,
                       help="ansatz layers (default: 3)")
    model.add_argument("--max-epochs", type=_positive_int, default=200,
                       help="training epochs at most; early stopping ends sooner (default: 200)")
    model.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    output = parser.add_argument_group("output")
    output.add_argument("--plot", metavar="FILE", default="skqegm_var_backtest.png",
                        help="PNG of the returns, 99%% VaR lines and exceedances (default: "
                             "skqegm_var_backtest.png)")
    output.add_argument("--no-plot", action="store_true", help="do not draw the plot")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="print the training loss of every epoch")
    return parser


# -- data -------------------------------------------------------------------------------------
def _read_csv_column(path, column, date_column=None):
    """The float values of ``column`` (and the dates of ``date_column``) of a CSV file."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.reader(handle))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"cannot read {path} as CSV text: {exc}") from None
    if not rows:
        raise ValueError(f"{path} is empty.")
    header = [name.strip() for name in rows[0]]
    if column not in header:
        raise ValueError(f"column {column!r} is not in {path}; its columns are: "
                         f"{', '.join(header)}.")
    if date_column is None:
        date_column = next((name for name in header if name.lower() == "date"), None)
    elif date_column not in header:
        raise ValueError(f"date column {date_column!r} is not in {path}; its columns are: "
                         f"{', '.join(header)}.")
    values, dates = [], []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cell = row[header.index(column)].strip() if len(row) > header.index(column) else ""
        try:
            values.append(float(cell))
        except ValueError:
            raise ValueError(f"column {column!r} of {path} has a non-numeric value {cell!r} "
                             f"on line {line}.") from None
        if date_column is not None:
            dates.append(row[header.index(date_column)].strip())
    values = np.asarray(values)
    if len(values) == 0:
        raise ValueError(f"column {column!r} of {path} has no values.")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"column {column!r} of {path} has NaN or infinite values.")
    if date_column is None:
        return values, None
    try:
        return values, np.asarray(dates, dtype="datetime64[D]")
    except ValueError:
        raise ValueError(f"date column {date_column!r} of {path} is not in YYYY-MM-DD "
                         "format.") from None


def _load_returns(args):
    """``(name, returns, dates or None)`` of the series the job runs on."""
    if args.csv is None:
        if args.column is not None:
            raise ValueError("--column needs --csv.")
        return "S&P 500 daily log returns", load_sp500_returns(), load_sp500_dates()
    if args.column is None:
        raise ValueError("--csv needs --column NAME (the column holding the series).")
    values, dates = _read_csv_column(args.csv, args.column, args.date_column)
    kind = args.kind
    if kind == "auto":
        kind = "prices" if np.all(values > 0) else "returns"
    if kind == "prices":
        if np.any(values <= 0):
            raise ValueError(f"column {args.column!r} has values <= 0, which are not prices; "
                             "pass --kind returns if it holds returns.")
        values, dates = log_returns(values), None if dates is None else dates[1:]
    return f"{args.column} of {args.csv} ({kind})", values, dates


def _first_test_row(dates, n_rows, args):
    """Index of the first held-out row of the feature matrix."""
    test_start = args.test_start
    if test_start is None and args.csv is None:
        test_start = SP500_TEST_START
    if test_start is not None:
        if dates is None:
            raise ValueError("--test-start needs dates: pass --date-column.")
        try:
            start = np.datetime64(test_start, "D")
        except ValueError:
            raise ValueError(f"--test-start must be a date YYYY-MM-DD; got {test_start!r}.") \
                from None
        return int(np.searchsorted(dates, start))
    if not 0 < args.test_fraction < 1:
        raise ValueError(f"--test-fraction must be in (0, 1); got {args.test_fraction}.")
    return int(round(n_rows * (1 - args.test_fraction)))


# -- models -----------------------------------------------------------------------------------
def _make_models(args):
    settings = dict(n_qubits=args.n_qubits, n_layers=args.n_layers, max_epochs=args.max_epochs,
                    verbose=int(args.verbose), random_state=args.seed)
    return {
        "QEGM (quantum)": TailRiskEstimator(**settings),
        "twin (Gaussian)": TailRiskEstimator(latent="gaussian", **settings),
    }


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


def _save_plot(path, results, y, dates, title):
    try:
        import matplotlib

        matplotlib.use("Agg")
        from .plotting import plot_var_backtest
    except ImportError:
        print("Plot skipped: matplotlib is not installed (pip install skqegm[plot]).")
        return
    ax = plot_var_backtest(y, {name: r[0.99][0] for name, r in results.items()}, dates=dates,
                           title=title)
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=120)
    print(f"Plot of the 99% VaR backtest written to {path}")


# -- the job ----------------------------------------------------------------------------------
def _run(args):
    start = time.perf_counter()
    models = _make_models(args)
    name, returns, dates = _load_returns(args)
    X, y = make_lagged_features(returns)
    offset = len(returns) - len(y)  # rows of X start at this return
    row_dates = None if dates is None else dates[offset:]
    first = _first_test_row(row_dates, len(y), args)
    first = max(first, HS_WINDOW - offset)  # historical simulation needs a full window
    if first >= len(y) - 1 or first < 50:
        raise ValueError(f"the series gives {len(y)} rows of features; too few to fit on the "
                         f"first {first} and test on the rest.")
    X_train, y_train, X_test, y_test = X[:first], y[:first], X[first:], y[first:]
    span = "" if row_dates is None else f" ({row_dates[0]} to {row_dates[first - 1]})"
    test_span = "" if row_dates is None else f" ({row_dates[first]} to {row_dates[-1]})"
    print(f"skqegm: tail risk of {name}")
    print(f"features: lags 1, 2, 5 and 5- and 22-day volatilities; fit on {first} days{span}, "
          f"test on {len(y_test)} days{test_span}\n")

    results = {}
    for i, (label, model) in enumerate(models.items(), start=1):
        print(f"[{i}/3] fitting {label} ...", end="" if not args.verbose else "\n", flush=True)
        tic = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            model.fit(X_train, y_train)
        results[label] = _evaluate(model, X_test, y_test)
        note = (", still improving: consider a larger --max-epochs"
                if any(issubclass(w.category, ConvergenceWarning) for w in caught) else "")
        print(f" done in {time.perf_counter() - tic:.1f} s ({model.n_iter_} epochs{note})")
    print(f"[3/3] historical simulation ({HS_WINDOW}-day window) ...", flush=True)
    hs, interval = historical_simulation(returns, offset + first, LEVELS, HS_WINDOW)
    results[f"HS {HS_WINDOW} days"] = {**hs, "interval": interval, "tail_kl": None,
                                       "recall": None}
    print()
    _print_table(results, y_test)
    if not args.no_plot:
        print()
        _save_plot(args.plot, results, y_test, None if row_dates is None else row_dates[first:],
                  f"{name}: 99% VaR on held-out days")
    print(f"\nFinished in {time.perf_counter() - start:.0f} s.")
    return 0


def main(argv=None):
    """Run the main job; returns the exit code (2 on bad input, with a one-line message).

    Fits the quantum :class:`~skqegm.TailRiskEstimator` and its classical twin on the
    earlier days of the series, then prints the backtest table of their VaR and expected
    shortfall on the held-out days beside historical simulation, and saves the plot
    unless ``--no-plot``. Run ``python -m skqegm --help`` for the options.

    Parameters
    ----------
    argv : list of str or None, default=None
        The command-line arguments, without the program name; ``None`` reads
        ``sys.argv[1:]``.

    Returns
    -------
    exit_code : int
        0 on success; 2 when the data or the options are unusable (a ``ValueError`` or
        ``ImportError`` of the job), after printing ``skqegm: error: <message>`` on
        standard error.

    Raises
    ------
    SystemExit
        From the argument parser: code 2 for arguments it cannot parse, 0 after
        ``--help``.

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
    >>> print(out.getvalue().splitlines()[1])
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
