"""The package's main job, ``python -m skqegm`` (console script ``skqegm``).

Fits a :class:`~skqegm.TailRiskEstimator` and its classical twin to next-day returns
given lagged returns and rolling volatilities, then backtests their Value-at-Risk and
expected shortfall on the later, held-out days beside GJR-GARCH(1,1,1) with skewed-t
innovations (:class:`~skqegm.baselines.GARCHRiskEstimator`, when the optional ``arch``
package is installed) and 250-day historical simulation: exceedances, Kupiec and
Christoffersen tests of the VaR, Acerbi and Szekely's Z2 test of the ES (its null drawn
from each model's predictive distribution), and the FZ0 and pinball losses. One fit on
the earlier days by default; ``--walk-forward K`` refits every ``K`` days with
:func:`~skqegm.model_selection.walk_forward`.

Every input (the CSV, its dates, the kind of series, the held-out split, the plot path
and the model options) is validated before anything is fitted or printed, so that a bad
input costs one line on standard error and leaves nothing half-written. The CSV is read
by :func:`skqegm.datasets.load_csv_series`, whose docstring states its rules.
"""

import argparse
import os
import re
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..baselines import GARCHRiskEstimator, historical_simulation
from ..datasets import load_sp500_dates, load_sp500_returns
from ..datasets.csv_series import (
    AMBIGUOUS_PRICES,
    DECIMALS,
    KINDS,
    MISSING,
    Series,
    load_csv_series,
    parse_date,
)
from ..exceptions import DivergenceWarning, ExtrapolationWarning
from ..metrics import (
    acerbi_szekely_test,
    christoffersen_conditional_coverage_test,
    fz0_loss,
    interval_coverage,
    kupiec_pof_test,
    make_tail_kl_scorer,
    rare_event_recall_scorer,
    tail_kl_divergence,
    var_exceedances,
    var_pinball_loss,
)
from ..model_selection import walk_forward
from ..models import TailRiskEstimator
from ..preprocessing import make_lagged_features

LEVELS = (0.975, 0.99)
HS_WINDOW = 250
# A full historical-simulation window before the first held-out day, and 2 held-out days.
MIN_RETURNS = HS_WINDOW + 2
SP500_TEST_START = "2015-01-01"
DEFAULT_TEST_FRACTION = 0.2
# Bounds of the model options. The job runs on the exact simulator, whose state holds
# 2**n_qubits amplitudes per row: beyond 12 qubits a fit of the conditional model (one
# circuit per row and epoch) is impractical.
MAX_QUBITS = 12
MAX_LAYERS = 20
MAX_EPOCHS = 100_000
MAX_REFIT_EVERY = 100_000
# Predictive draws per held-out day: the null of the Acerbi-Szekely test, and the 90%
# interval of the models without a closed-form one. 1,000 draws put the Monte Carlo error
# of a 5% quantile at about 0.7 percentage points of probability.
N_DRAWS = 1000
TAIL_KL_DRAWS = 10  # per day, as make_tail_kl_scorer's default
GARCH_LABEL = "GJR-GARCH skew-t"
#: A median |return| above this is implausible for returns given as fractions (20% a
#: period) and usual for percentages (the S&P 500's daily median is 0.5 in percent).
PERCENT_LIKE_MEDIAN = 0.2
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
            "p-values, the Acerbi-Szekely Z2 test of the ES, FZ0 and pinball losses) beside "
            "GJR-GARCH(1,1,1) with skewed-t innovations (needs the arch package: pip "
            "install 'skqegm[garch]') and 250-day historical simulation, with tail KL, "
            "rare-event recall and 90% interval coverage, and a plot. Without --csv it runs "
            "on the S&P 500 daily returns shipped with the package (fit 1999-2014, test "
            "2015-2018)."
        ),
    )
    data = parser.add_argument_group("data")
    data.add_argument("--csv", metavar="FILE",
                      help="a UTF-8 CSV file with a header row, separated by commas, "
                           "semicolons, tabs or | (with the last three, decimal commas are "
                           "read too); default: the S&P 500 series")
    data.add_argument("--column", metavar="NAME",
                      help="the CSV column holding the series (required with --csv)")
    data.add_argument("--kind", choices=KINDS,
                      help="prices (turned into log returns) or returns; auto decides from "
                           "the whole column: prices when every value is positive and moves "
                           "like a price level, returns when the values are centred near 0 "
                           "with both signs, an error otherwise; it cannot tell yields or "
                           "interest rates from prices, refuses a column named like one, and "
                           "notes prices all in (0, 25], where yields in percent lie "
                           "(default: auto)")
    data.add_argument("--decimal", choices=DECIMALS[1:], metavar="MARK",
                      help="the column's decimal mark, . or , (the other mark then groups "
                           "thousands: 1.234,5 with --decimal ,); default: found from the "
                           "column, and a column that could be read both ways is refused "
                           "(with ;, 1.001 may be 1001 or 1.001)")
    data.add_argument("--missing", choices=MISSING,
                      help="a cell of the column without a value (empty, '.', 'NA', "
                           "'#N/A', 'NaN', ...): raise an error naming its line, or drop its "
                           "row, e.g. the holidays of a FRED export (default: raise)")
    data.add_argument("--date-column", metavar="NAME",
                      help="CSV column of dates YYYY-MM-DD, optionally with a time "
                           "HH:MM[:SS], oldest or newest first; default: a column named "
                           "'date', 'datetime' or 'timestamp', else the first column "
                           "holding dates, if any")
    data.add_argument("--no-dates", action="store_true",
                      help="read no dates, even from a column that looks like dates: the "
                           "file's order is the time order")
    # Two ways to say where the held-out period starts: one of them, never both (the
    # date silently won over a fraction given beside it).
    split = parser.add_argument_group("held-out period").add_mutually_exclusive_group()
    split.add_argument("--test-start", metavar="YYYY-MM-DD",
                       help="first held-out day (needs dates; default for the S&P 500: "
                            f"{SP500_TEST_START}); not with --test-fraction")
    split.add_argument("--test-fraction", type=_fraction, metavar="F",
                       help="the last fraction F of the days, 0 < F < 1, is held out; not "
                            f"with --test-start (default: {DEFAULT_TEST_FRACTION}, or "
                            f"less where a file is too short to leave {HS_WINDOW} earlier "
                            "returns)")
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
    model.add_argument("--walk-forward", type=_int_in(1, MAX_REFIT_EVERY), metavar="K",
                       help="refit every model every K held-out days (rows, for data that are not "
                            "daily) on all the days before "
                            f"(expanding window), 1 to {MAX_REFIT_EVERY}, instead of one fit "
                            "before the held-out days; each QEGM refit takes seconds to "
                            "minutes, so the job takes up to (held-out days / K) times as "
                            "long: about 3.3x at K=250 on the S&P 500's 1,006 held-out days "
                            "(default: one fit)")
    output = parser.add_argument_group("output")
    # A plot file and no plot: one of them (the file was silently not written).
    plot = output.add_mutually_exclusive_group()
    plot.add_argument("--plot", metavar="FILE", default="skqegm_var_backtest.png",
                      help="image of the returns, 99%% VaR lines and exceedances; its "
                           "suffix (.png, .pdf, .svg, ...) sets the format; not with "
                           "--no-plot (default: skqegm_var_backtest.png)")
    plot.add_argument("--no-plot", action="store_true",
                      help="do not draw the plot; not with --plot")
    output.add_argument("-v", "--verbose", action="store_true",
                        help="print the training loss of every epoch")
    return parser


# -- the series -------------------------------------------------------------------------------
def _series_of(args):
    """The series the parsed arguments name: the user's CSV, else the shipped S&P 500."""
    if args.csv is None:
        # What describes the CSV means nothing for the shipped series: refused, not ignored.
        for option in ("column", "kind", "missing", "date_column", "decimal"):
            if getattr(args, option) is not None:
                raise ValueError(f"--{option.replace('_', '-')} needs --csv.")
        if args.no_dates:
            raise ValueError("--no-dates needs --csv.")
        returns, dates = load_sp500_returns(), load_sp500_dates()
        return Series("S&P 500 daily log returns", "returns", returns, dates, returns, dates,
                      ())
    if args.column is None:
        raise ValueError("--csv needs --column NAME (the column holding the series).")
    if args.no_dates and args.date_column is not None:
        raise ValueError("--no-dates and --date-column exclude each other: pass one.")
    date_column = False if args.no_dates else args.date_column
    with warnings.catch_warnings():
        # Prices that may be a yield: said once, in the kind's note printed below.
        warnings.filterwarnings("ignore", message=re.escape(AMBIGUOUS_PRICES))
        return load_csv_series(args.csv, args.column, date_column, args.kind or "auto",
                               args.missing or "raise", args.decimal)


def _unit_of(dates):
    """What a row of the series is: ``"day"``, ``"week"`` or ``"month"``, else ``"row"``.

    From the median step between the dates (one day, seven, 28 to 31): the job's words
    ("fit on 702 days", "HS 250 days") are then true of intraday or weekly rows too.
    Without dates, or with other steps (intraday, quarterly), a row is a row.
    """
    if dates is None or len(dates) < 2:
        return "row"
    step = np.median(np.diff(dates.astype("datetime64[s]")).astype(np.int64)) / 86_400
    if step == 1:
        return "day"
    if step == 7:
        return "week"
    return "month" if 28 <= step <= 31 else "row"


def _per(unit):
    return f"a {unit}" if unit != "row" else "per row"


def _units_note(series):
    """A note when returns given as they are look like percentages, else ``None``."""
    if series.kind != "returns":
        return None  # log returns computed from prices are fractions
    median = float(np.median(np.abs(series.returns)))
    if median <= PERCENT_LIKE_MEDIAN:
        return None
    return (f"note: the median |return| is {median:.3g}, i.e. {median:.0%} "
            f"{_per(_unit_of(series.dates))} if the "
            "returns are fractions; if they are percentages, divide the column by 100 "
            "(the table reads returns as fractions and shows VaR and ES in %)")


def _plural(n, noun):
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- the held-out split -----------------------------------------------------------------------
def _check_length(series):
    n = len(series.returns)
    if n < MIN_RETURNS:
        what = _plural(n, "return")
        if series.kind == "prices":
            what = f"{_plural(len(series.values), 'price')}, i.e. {what}"
        unit = _unit_of(series.dates)
        raise ValueError(f"the series is too short: {what}; the backtest needs at least "
                         f"{MIN_RETURNS} returns ({HS_WINDOW} for the historical-simulation "
                         f"window before the first held-out {unit}, and 2 held-out "
                         f"{unit}s).")
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
    the default fraction is moved up to it; a ``--test-fraction`` or ``--test-start`` the
    user gives is refused if it would start earlier (their held-out period, or none).
    """
    test_start = args.test_start
    if test_start is None and args.csv is None and args.test_fraction is None:
        test_start = SP500_TEST_START  # a --test-fraction given for the S&P 500 was ignored
    if test_start is None:
        fraction = DEFAULT_TEST_FRACTION if args.test_fraction is None else args.test_fraction
        first = int(round(n_rows * (1 - fraction)))
        if args.test_fraction is None:
            first = max(first, min_first)
        elif first < min_first:
            raise ValueError(f"--test-fraction {args.test_fraction} is too large: historical "
                             f"simulation needs {HS_WINDOW} earlier returns, so at most "
                             f"{_plural(n_rows - min_first, 'row')} of the {n_rows} rows of "
                             f"features can be held out (--test-fraction "
                             f"{(n_rows - min_first) / n_rows:.4g} or less).")
        if first > n_rows - 2:
            raise ValueError(f"--test-fraction {fraction} holds out "
                             f"{_plural(n_rows - first, 'row')} of the {n_rows} rows of "
                             "features, too few: at least 2 are needed.")
        return first
    if row_dates is None:
        if args.no_dates:
            raise ValueError("--test-start needs dates, and --no-dates reads none: pass "
                             "--test-fraction instead.")
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
        held_out = _plural(n_rows - first, _unit_of(series.dates))
        raise ValueError(f"--test-start {test_start} holds out {held_out}, too few: at least "
                         "2 are needed, "
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

    # The title names the user's column and file: plot_var_backtest draws it as text.
    ax = plot_var_backtest(y, {name: r[0.99][0] for name, r in results.items()}, dates=dates,
                           title=title)
    ax.figure.tight_layout()
    # Written beside the target, then renamed over it: a write that fails half-way (a full
    # disk) leaves the previous file as it was, not a truncated image.
    target, partial = Path(path), None
    try:
        # A short name: the target's own may be as long as a name can be.
        handle, partial = tempfile.mkstemp(prefix=".skqegm-plot-", suffix=target.suffix,
                                           dir=target.parent)
        os.close(handle)
        ax.figure.savefig(partial, dpi=120)
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(partial, 0o666 & ~mask)  # a new file's permissions, not mkstemp's 0600
        os.replace(partial, target)
    except OSError as exc:  # checked up front, but the disk may fill up meanwhile
        raise ValueError(f"cannot write the plot {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(ax.figure)
        if partial is not None and os.path.exists(partial):
            os.remove(partial)
    print(f"Plot of the 99% VaR backtest written to {path}")


# -- models -----------------------------------------------------------------------------------
def _make_models(args):
    """The models fitted by the job, and a note when GJR-GARCH is skipped.

    Their options were bounded when the arguments were parsed. GJR-GARCH needs the
    optional ``arch`` package; without it the job runs without that column and says why.
    """
    settings = dict(n_qubits=args.n_qubits, n_layers=args.n_layers, max_epochs=args.max_epochs,
                    verbose=int(args.verbose), random_state=args.seed)
    models = {
        "QEGM (quantum)": TailRiskEstimator(**settings),
        "twin (Gaussian)": TailRiskEstimator(latent="gaussian", **settings),
    }
    try:
        import arch  # noqa: F401
    except ImportError:
        return models, (f"{GARCH_LABEL} skipped: the arch package is not installed (pip "
                        "install 'skqegm[garch]').")
    models[GARCH_LABEL] = GARCHRiskEstimator(o=1, dist="skewt")
    return models, None


def _fit_note(caught):
    """What the warnings of a fit say, for its progress line."""
    categories = [w.category for w in caught]
    if any(issubclass(c, DivergenceWarning) for c in categories):
        return ", diverged: its figures below are unreliable"
    if any(issubclass(c, ConvergenceWarning) for c in categories):
        return ", still improving: consider a larger --max-epochs"
    return ""


def _notes_of(caught, model):
    """The messages worth a line of their own: extrapolation, and GARCH's few-rows warning.

    A walk-forward run repeats them refit after refit: the first three are kept.
    """
    kinds = (ExtrapolationWarning,) + ((UserWarning,) if isinstance(model, GARCHRiskEstimator)
                                       else ())
    skip = (DivergenceWarning, ConvergenceWarning)
    messages = list(dict.fromkeys(" ".join(str(w.message).split()) for w in caught
                                  if issubclass(w.category, kinds)
                                  and not issubclass(w.category, skip)))
    if len(messages) > 3:
        messages = messages[:3] + [f"... and {len(messages) - 3} more like these"]
    return messages


def _draw_interval(draws):
    """The central 90% interval of each row's predictive draws."""
    return np.quantile(draws, [0.05, 0.95], axis=1).T


def _evaluate(model, X, y, seed):
    """The table's figures for a fitted model on held-out rows."""
    row = {level: (model.predict_var(X, level), model.predict_es(X, level)) for level in LEVELS}
    row["draws"] = model.sample_y(X, N_DRAWS, random_state=seed)
    row["interval"] = (model.predict_interval(X, 0.9) if hasattr(model, "predict_interval")
                       else _draw_interval(row["draws"]))
    row["tail_kl"] = -make_tail_kl_scorer(tail_fraction=0.05, side="lower",
                                          n_draws=TAIL_KL_DRAWS, random_state=seed)(model, X, y)
    row["recall"] = (rare_event_recall_scorer(model, X, y) if hasattr(model, "predict_rare")
                     else None)
    return row


def _evaluate_walk(result):
    """The table's figures of a :class:`~skqegm.model_selection.WalkForwardResult`.

    Rare-event recall needs one fitted model for the whole held-out period: not shown.
    """
    row = {level: (result.var_at(level), result.es_at(level)) for level in LEVELS}
    row["draws"] = result.draws
    row["interval"] = _draw_interval(result.draws)
    row["tail_kl"] = tail_kl_divergence(result.y, result.draws[:, :TAIL_KL_DRAWS].ravel(),
                                        tail_fraction=0.05, side="lower")
    row["recall"] = None
    return row


def _es_scores(y, var, es, level, draws, seed):
    """``(FZ0 loss, Acerbi-Szekely test)``, or ``(None, None)`` where ES is not a loss.

    Both need ``0 < ES`` and ``VaR <= ES`` on every day; a model fitted to returns with
    a strong upward drift can forecast a negative ES (a gain), which neither scores.
    """
    try:
        fz0 = fz0_loss(y, var, es, level)
        test = acerbi_szekely_test(y, var, es, level, draws, random_state=seed)
    except ValueError:
        return None, None
    return fz0, test


def _table_rows(results, y, seed):
    """``(label, one formatted cell per model)`` for every line of the printed table."""
    columns = []
    for r in results.values():
        cells = {}
        for level in LEVELS:
            pct = f"{100 * level:g}%"
            var, es = r[level]
            hits = var_exceedances(y, var)
            fz0, es_test = _es_scores(y, var, es, level, r["draws"], seed)
            cells[f"VaR {pct}, mean (%)"] = f"{100 * var.mean():.2f}"
            cells[f"ES {pct}, mean (%)"] = f"{100 * es.mean():.2f}"
            cells[f"exceedances {pct} (expected {(1 - level) * len(y):.1f})"] = \
                f"{hits.sum()} ({100 * hits.mean():.2f}%)"
            cells[f"  Kupiec p {pct}"] = f"{kupiec_pof_test(hits, level).p_value:.3f}"
            p_value = christoffersen_conditional_coverage_test(hits, level).p_value
            cells[f"  Christoffersen p {pct}"] = f"{p_value:.3f}"
            cells[f"  Acerbi-Szekely Z2 {pct} (0 if right)"] = _optional(
                None if es_test is None else es_test.statistic, ".3f")
            cells[f"  Acerbi-Szekely p {pct}"] = _optional(
                None if es_test is None else es_test.p_value, ".3f")
            cells[f"FZ0 loss {pct} (lower is better)"] = _optional(fz0, ".4f")
            cells[f"pinball loss {pct}, x1e4"] = f"{1e4 * var_pinball_loss(y, var, level):.3f}"
        cells["tail KL, lower 5% (lower is better)"] = _optional(r["tail_kl"], ".3f")
        cells["rare-event recall (2.5% tail)"] = _optional(
            None if _no_rare_event(r["recall"]) else r["recall"], ".2f")
        cells["90% interval coverage"] = f"{interval_coverage(y, r['interval']):.3f}"
        columns.append(cells)
    return [(label, [cells[label] for cells in columns]) for label in columns[0]]


def _optional(value, spec):
    return "—" if value is None else format(value, spec)


def _no_rare_event(recall):
    """Whether a recall is undefined: NaN, where no held-out row is a rare event."""
    return recall is not None and np.isnan(recall)


def _print_table(results, y, seed, unit):
    rows = _table_rows(results, y, seed)
    width = max(len(label) for label, _ in rows) + 2
    columns = [max(len(name), 16) + 2 for name in results]
    print("".ljust(width) + "".join(name.rjust(w) for name, w in zip(results, columns)))
    for label, cells in rows:
        print(label.ljust(width) + "".join(cell.rjust(w) for cell, w in zip(cells, columns)))
    print("\nAcerbi-Szekely: Z2 < 0 and a small p when the ES underestimates the tail; its null "
          "is drawn from each\nmodel's own predictive distribution "
          f"({N_DRAWS} draws {_per(unit)}; the {HS_WINDOW}-{unit} window for HS). FZ0: the "
          "Fissler-Ziegel\nloss of VaR and ES jointly. '—' where a figure does not apply: a "
          "forecast ES that is not a\npositive loss (FZ0, Acerbi-Szekely), a model without "
          "rare-event flags (recall) or a\nmodel to draw from (tail KL of HS), and "
          "recall in a walk-forward, which needs one model for the\nwhole held-out period.")
    if any(_no_rare_event(r["recall"]) for r in results.values()):
        # Only where it occurs: the default run's note stays as it was.
        print(f"Recall is '—' too where no held-out {unit} is a rare event: there is none "
              "to recall.")


# -- the job ----------------------------------------------------------------------------------
class _Job(NamedTuple):
    """Everything the job needs, validated before anything is fitted or printed."""

    series: Series
    X: np.ndarray
    y: np.ndarray
    offset: int  # rows of X start at this return
    first: int  # the first held-out row of X
    row_dates: "np.ndarray | None"  # of the rows of X
    unit: str  # what a row is: "day", "week", "month" or "row"
    plot: "str | None"
    plot_note: "str | None"
    models: dict
    models_note: "str | None"


def _prepare(args):
    """The :class:`_Job` of the parsed arguments, or a ValueError from any input."""
    series = _series_of(args)
    _check_length(series)
    X, y = make_lagged_features(series.returns)
    offset = len(series.returns) - len(y)
    row_dates = None if series.return_dates is None else series.return_dates[offset:]
    first = _first_test_row(row_dates, len(y), HS_WINDOW - offset, series, args)
    plot, plot_note = _plot_target(args)
    models, models_note = _make_models(args)
    return _Job(series, X, y, offset, first, row_dates, _unit_of(series.dates), plot,
                plot_note, models, models_note)


def _n_refits(job, refit_every):
    return -(-(len(job.y) - job.first) // refit_every)


def _fit_one(label, model, job, args):
    """Fit ``model`` (once, or walk-forward) and evaluate it on the held-out rows.

    Returns the figures and the progress line's tail, or ``None`` and the reason when a
    GARCH fit fails (a numerical failure of ``arch`` on the user's series), so that one
    baseline cannot end the job after the table has begun.
    """
    first = job.first
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            if args.walk_forward is None:
                model.fit(job.X[:first], job.y[:first])
                row = _evaluate(model, job.X[first:], job.y[first:], args.seed)
                what = f"{model.n_iter_} epochs" if hasattr(model, "n_iter_") else "one fit"
            else:
                result = walk_forward(model, job.X, job.y, start=first,
                                      refit_every=args.walk_forward, levels=LEVELS,
                                      n_draws=N_DRAWS, random_state=args.seed,
                                      verbose=int(args.verbose))
                row = _evaluate_walk(result)
                what = f"{_plural(len(result.fit_time), 'refit')}"
    except (ValueError, ArithmeticError, np.linalg.LinAlgError, RuntimeError) as exc:
        if not isinstance(model, GARCHRiskEstimator):
            raise
        return None, f"failed ({' '.join(str(exc).split())}): column skipped", []
    return row, f"{what}{_fit_note(caught)}", _notes_of(caught, model)


def _header(job, args):
    first, row_dates, unit = job.first, job.row_dates, job.unit
    span = "" if row_dates is None else f" ({row_dates[0]} to {row_dates[first - 1]})"
    test_span = "" if row_dates is None else f" ({row_dates[first]} to {row_dates[-1]})"
    n_test = len(job.y) - first
    features = f"features: lags 1, 2, 5 and 5- and 22-{unit} volatilities"
    if args.walk_forward is None:
        return (f"{features}; fit on {_plural(first, unit)}{span}, test on "
                f"{_plural(n_test, unit)}{test_span}")
    return (f"{features}; walk-forward: first fit on {_plural(first, unit)}{span}, then every "
            f"model refitted on all earlier {unit}s every {_plural(args.walk_forward, unit)} "
            f"({_plural(_n_refits(job, args.walk_forward), 'fit')} each); test on "
            f"{_plural(n_test, unit)}{test_span}")


def _run(args):
    start = time.perf_counter()
    job = _prepare(args)
    first, row_dates, series = job.first, job.row_dates, job.series
    y_test = job.y[first:]
    print(f"skqegm: tail risk of {series.name}")
    extra = (_units_note(series), job.plot_note, job.models_note)
    for note in series.notes + tuple(n for n in extra if n):
        print(note)
    print(_header(job, args) + "\n")

    results = {}
    steps = len(job.models) + 1
    for i, (label, model) in enumerate(job.models.items(), start=1):
        print(f"[{i}/{steps}] fitting {label} ...", end="" if not args.verbose else "\n",
              flush=True)
        tic = time.perf_counter()
        row, done, notes = _fit_one(label, model, job, args)
        print(f" done in {time.perf_counter() - tic:.1f} s ({done})")
        for message in notes:
            print(f"  note: {message}")
        if row is not None:
            results[label] = row
    print(f"[{steps}/{steps}] historical simulation ({HS_WINDOW}-{job.unit} window) ...",
          flush=True)
    first_return = job.offset + first
    hs, interval = historical_simulation(series.returns, first_return, LEVELS, HS_WINDOW)
    windows = np.lib.stride_tricks.sliding_window_view(series.returns[:-1], HS_WINDOW)
    results[f"HS {HS_WINDOW} {job.unit}s"] = {**hs, "interval": interval, "tail_kl": None,
                                       "recall": None,
                                       "draws": windows[first_return - HS_WINDOW:]}
    print()
    _print_table(results, y_test, args.seed, job.unit)
    if job.plot is not None:
        print()
        _save_plot(job.plot, results, y_test,
                   None if row_dates is None else row_dates[first:],
                   f"{series.name}: 99% VaR on held-out {job.unit}s")
    elif job.plot_note is not None:
        print(f"\n{job.plot_note}")
    print(f"\nFinished in {time.perf_counter() - start:.0f} s.")
    return 0


def main(argv=None):
    """Run the main job; returns the exit code (2 on bad input, with a one-line message).

    Reads and validates every input first (the CSV, its dates and kind, the held-out
    split, the plot path, the model options), then fits the quantum
    :class:`~skqegm.TailRiskEstimator`, its classical twin and GJR-GARCH(1,1,1) with
    skewed-t innovations (when ``arch`` is installed) on the earlier days of the series
    (once, or every ``K`` days with ``--walk-forward K``), prints the backtest table of
    their VaR and expected shortfall on the held-out days beside historical simulation,
    and saves the plot unless ``--no-plot``. Run ``python -m skqegm --help`` for the
    options.

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
    features: lags 1, 2, 5 and 5- and 22-row volatilities; fit on 232 rows, test on 26 rows
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
