"""The main job: ``python -m skqegm`` on the shipped S&P 500 data and on a user's CSV."""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from skqegm.baselines import historical_simulation
from skqegm.cli import (
    _build_parser,
    _es_scores,
    _first_test_row,
    _header,
    _plot_target,
    _prepare,
    _unit_of,
    _units_note,
    main,
)
from skqegm.datasets import load_csv_series, load_sp500_dates, load_sp500_returns
from skqegm.datasets.csv_series import Series
from skqegm.exceptions import MemoryLimitError

FAST = ["--max-epochs", "2", "--n-qubits", "2", "--n-layers", "1"]


def parse(argv):
    return _build_parser().parse_args(argv)


def assert_refused(capsys, argv, pattern):
    """``main(argv)`` exits 2 with one matching line on stderr and nothing on stdout."""
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "", out  # validation comes before the first printed line
    assert err.startswith("skqegm: error: ") and err.count("\n") == 1, err
    assert re.search(pattern, err), err


def assert_parser_refuses(capsys, argv, pattern):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("skqegm: error: ") and err.count("\n") == 1, err
    assert re.search(pattern, err), err


def write_csv(path, rows, sep=",", encoding="utf-8"):
    """A CSV file of ``rows`` (the header first), cells joined by ``sep``."""
    path.write_text("".join(sep.join(map(str, row)) + "\n" for row in rows),
                    encoding=encoding)
    return str(path)


def price_rows(n, seed=0, header=("date", "close")):
    """The header and ``n`` daily rows ``(date, price)`` from 2020-01-01, and the prices."""
    prices = 100 * np.exp(np.cumsum(0.01 * np.random.default_rng(seed).standard_t(4, n)))
    dates = np.datetime64("2020-01-01") + np.arange(n)
    return [header] + [(date, repr(float(p))) for date, p in zip(dates, prices)], prices


def write_prices(path, n=900, seed=0, date_column="Date"):
    rng = np.random.default_rng(seed)
    prices = 100 * np.exp(np.cumsum(0.01 * rng.standard_t(4, n)))
    dates = np.datetime64("2020-01-01") + np.arange(n)
    with open(path, "w") as handle:
        handle.write(f"{date_column},close,volume\n")
        for date, price in zip(dates, prices):
            handle.write(f"{date},{float(price)!r},1000\n")
    return prices


def test_default_run_on_the_sp500(capsys):
    assert main(FAST + ["--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "fit on 4002 days (1999-02-05 to 2014-12-31), test on 1006 days" in out
    for label in ("VaR 99%, mean (%)", "ES 97.5%, mean (%)", "exceedances 99%",
                  "Kupiec p 97.5%", "Christoffersen p 99%", "Acerbi-Szekely Z2 97.5%",
                  "Acerbi-Szekely p 99%", "FZ0 loss 99%", "pinball loss 97.5%", "tail KL",
                  "rare-event recall", "90% interval coverage", "QEGM (quantum)",
                  "twin (Gaussian)", "HS 250 days"):
        assert label in out, label
    if importlib.util.find_spec("arch") is not None:
        assert "GJR-GARCH skew-t" in out and "[3/4] fitting GJR-GARCH skew-t ... done" in out
    assert "[1/4] fitting QEGM (quantum) ... done in" in out or \
        "[1/3] fitting QEGM (quantum) ... done in" in out


def table_row(out, label):
    """The cells of the table line that starts with ``label``."""
    line = next(line for line in out.splitlines() if line.strip().startswith(label))
    return line.strip()[len(label):].split()


def test_gjr_garch_column_with_es_backtest_and_losses(tmp_path, capsys):
    pytest.importorskip("arch")
    csv_path = tmp_path / "prices.csv"
    write_prices(csv_path)
    assert main(FAST + ["--csv", str(csv_path), "--column", "close", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "[3/4] fitting GJR-GARCH skew-t ... done in" in out and "(one fit)" in out
    header = next(line for line in out.splitlines() if "HS 250 days" in line)
    assert header.split() == ["QEGM", "(quantum)", "twin", "(Gaussian)", "GJR-GARCH",
                              "skew-t", "HS", "250", "days"]
    for label in ("Acerbi-Szekely p 97.5%", "FZ0 loss 99% (lower is better)",
                  "pinball loss 99%, x1e4", "tail KL, lower 5% (lower is better)"):
        cells = table_row(out, label)
        assert len(cells) == 4, (label, cells)
    p_values = [float(c) for c in table_row(out, "Acerbi-Szekely p 97.5%")]
    assert all(0 < p <= 1 for p in p_values)
    # GJR-GARCH has no rare-event classifier; HS has neither it nor tail KL.
    assert table_row(out, "rare-event recall (2.5% tail)")[2:] == ["—", "—"]
    assert table_row(out, "tail KL, lower 5% (lower is better)")[3] == "—"
    assert "a model without rare-event flags (recall)" in " ".join(out.split())


def test_missing_arch_skips_the_garch_column_with_a_note(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "arch", None)  # its import fails
    csv_path = tmp_path / "prices.csv"
    write_prices(csv_path)
    assert main(FAST + ["--csv", str(csv_path), "--column", "close", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert ("GJR-GARCH skew-t skipped: the arch package is not installed (pip install "
            "'skqegm[garch]')." in out)
    assert "[3/3] historical simulation" in out and "GJR-GARCH skew-t ..." not in out


def test_walk_forward_refits_every_k_days(tmp_path, capsys):
    csv_path = tmp_path / "prices.csv"
    write_prices(csv_path)
    assert main(FAST + ["--csv", str(csv_path), "--column", "close", "--no-plot",
                        "--walk-forward", "100"]) == 0
    out = capsys.readouterr().out
    # 175 held-out days, refit every 100: fits at the 1st and 101st held-out day.
    assert ("walk-forward: first fit on 702 days (2020-01-24 to 2021-12-25), then every model "
            "refitted on all earlier days every 100 days (2 fits each); test on 175 days" in out)
    assert "[1/" in out and "(2 refits)" in out
    # Recall needs one model for the whole period; tail KL comes from the walk's draws.
    assert table_row(out, "rare-event recall (2.5% tail)")[:2] == ["—", "—"]
    # The table's note says why (it named only an ES that is not a loss before).
    note = " ".join(out.split())
    assert "recall in a walk-forward, which needs one model for the whole held-out" in note
    assert float(table_row(out, "tail KL, lower 5% (lower is better)")[0]) >= 0


def test_recall_without_a_rare_event_held_out_is_a_dash(tmp_path, capsys):
    # Calm held-out days, none beyond the fitted tails: recall is 0/0. The table printed
    # "nan" there, where every other undefined figure is a '—' that the note explains.
    rng = np.random.default_rng(0)
    returns = 0.01 * rng.standard_t(4, 900)
    returns[-30:] = 0.001 * rng.standard_normal(30)
    prices = 100 * np.exp(np.cumsum(returns))
    dates = np.datetime64("2020-01-01") + np.arange(900)
    path = write_csv(tmp_path / "calm.csv",
                     [("date", "close")] + [(d, repr(float(p))) for d, p in zip(dates, prices)])
    assert main(FAST + ["--csv", path, "--column", "close", "--no-plot",
                        "--test-fraction", "0.03"]) == 0
    out = capsys.readouterr().out
    assert "test on 26 days" in out
    assert table_row(out, "rare-event recall (2.5% tail)")[:2] == ["—", "—"]
    assert "nan" not in out
    assert "Recall is '—' too where no held-out day is a rare event" in out


def test_walk_forward_matches_walk_forward_itself(tmp_path):
    """One refit per held-out period gives the single fit's VaR, through walk_forward."""
    pytest.importorskip("arch")
    from skqegm.baselines import GARCHRiskEstimator
    from skqegm.model_selection import walk_forward

    csv_path = tmp_path / "prices.csv"
    write_prices(csv_path)
    job = _prepare(parse(FAST + ["--csv", str(csv_path), "--column", "close", "--no-plot"]))
    garch = GARCHRiskEstimator(o=1, dist="skewt")
    result = walk_forward(garch, job.X, job.y, start=job.first, refit_every=1000)
    single = garch.fit(job.X[:job.first], job.y[:job.first])
    np.testing.assert_allclose(result.var_at(0.99), single.predict_var(job.X[job.first:], 0.99))


def test_es_scores_skip_an_es_that_is_not_a_loss():
    y = np.array([0.01, -0.02, 0.005])
    draws = np.tile([-0.03, 0.0, 0.03], (3, 1))
    assert _es_scores(y, np.full(3, -0.01), np.full(3, -0.005), 0.975, draws, 0) == (None, None)
    fz0, test = _es_scores(y, np.full(3, 0.01), np.full(3, 0.02), 0.975, draws, 0)
    assert np.isfinite(fz0) and 0 < test.p_value <= 1


def test_csv_of_prices_with_a_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    csv_path, png = tmp_path / "prices.csv", tmp_path / "var.png"
    write_prices(csv_path)
    assert main(FAST + ["--csv", str(csv_path), "--column", "close", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "close of" in out and "(prices)" in out
    assert "kind: prices (every value positive; median move between rows" in out
    # 899 returns, 877 feature rows; the last 20% are held out.
    assert "fit on 702 days (2020-01-24 to 2021-12-25), test on 175 days" in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_dollar_signs_in_the_title_are_text(tmp_path, capsys, monkeypatch):
    # The title names the column and the file: with two '$' in them matplotlib read the
    # text between as mathtext, garbling the title or, where that text is no valid
    # mathtext, failing after the whole job (exit 2 with a ParseException).
    figure = pytest.importorskip("matplotlib.figure")
    folder = tmp_path / "d $x"
    folder.mkdir()
    path = folder / "returns.csv"
    np.savetxt(path, 0.01 * np.random.default_rng(1).standard_t(4, 280), header="x$}",
               comments="", fmt="%.10f")
    titles = []
    savefig = figure.Figure.savefig

    def recording(fig, *args, **kwargs):
        title = fig.axes[0].title
        titles.append(title._preprocess_math(title.get_text()))  # (text, whether math)
        return savefig(fig, *args, **kwargs)

    monkeypatch.setattr(figure.Figure, "savefig", recording)
    png = tmp_path / "var.png"
    assert main(FAST + ["--csv", str(path), "--column", "x$}", "--test-fraction", "0.1",
                        "--plot", str(png)]) == 0, capsys.readouterr().err
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert titles == [(f"x$}} of {folder}/returns.csv (returns): 99% VaR on held-out rows",
                       False)]


def test_a_plot_that_fails_half_way_leaves_the_previous_file(tmp_path, capsys, monkeypatch):
    # savefig wrote straight to --plot: a disk that filled up during the write left a
    # truncated image in place of the previous one.
    import errno

    figure = pytest.importorskip("matplotlib.figure")
    rows, _ = price_rows(300)
    path = write_csv(tmp_path / "p.csv", rows)
    png = tmp_path / "var.png"
    png.write_bytes(b"the previous plot")

    def full_disk(fig, fname, *args, **kwargs):
        with open(fname, "wb") as handle:
            handle.write(b"\x89PNG half")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(figure.Figure, "savefig", full_disk)
    assert main(FAST + ["--csv", path, "--column", "close", "--plot", str(png)]) == 2
    assert capsys.readouterr().err == (f"skqegm: error: cannot write the plot {png}: No space "
                                       "left on device\n")
    assert png.read_bytes() == b"the previous plot"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "var.png"]  # no leftovers
    monkeypatch.undo()
    # A plot written in full replaces the file, with the permissions of a new file.
    assert main(FAST + ["--csv", path, "--column", "close", "--plot", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    mask = os.umask(0)
    os.umask(mask)
    assert png.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv", "var.png"]


def test_csv_of_returns_without_dates(tmp_path, capsys):
    path = tmp_path / "returns.csv"
    r = 0.01 * np.random.default_rng(1).standard_t(4, 700)
    np.savetxt(path, r, header="ret", comments="", fmt="%.10f")
    assert main(FAST + ["--csv", str(path), "--column", "ret", "--no-plot",
                        "--test-fraction", "0.3"]) == 0
    out = capsys.readouterr().out
    # without dates a row is a row, not a day
    assert "(returns)" in out and "fit on 475 rows, test on 203 rows" in out
    assert "kind: returns (centred near 0: " in out
    assert "percentages" not in out  # fractions: no note on the units


@pytest.mark.parametrize("start, step, unit", [
    ("2020-01-01", np.timedelta64(1, "D"), "day"),
    ("2020-01-01T16:00", np.timedelta64(1, "D"), "day"),  # daily closes stamped 16:00
    ("2020-01-03", np.timedelta64(7, "D"), "week"),
    ("2020-01-31", np.timedelta64(30, "D"), "month"),
    ("2020-01-02T09:30", np.timedelta64(5, "m"), "row"),  # 5-minute bars
])
def test_the_job_words_its_rows_by_the_frequency_of_the_dates(tmp_path, start, step, unit):
    # It said "days" whatever the rows were: "fit on 228 days" of 5-minute bars.
    dates = np.datetime64(start) + step * np.arange(300)
    _, prices = price_rows(300)
    rows = [("date", "close")] + [(str(d).replace("T", " "), repr(float(p)))
                                  for d, p in zip(dates, prices)]
    args = parse(["--csv", write_csv(tmp_path / "p.csv", rows), "--column", "close",
                  "--no-plot"])
    header = _header(_prepare(args), args)
    assert (f"lags 1, 2, 5 and 5- and 22-{unit} volatilities; fit on 228 {unit}s (" in header
            and f"test on 49 {unit}s (" in header), header
    assert _unit_of(None) == "row"


def test_the_intraday_table_says_rows(tmp_path, capsys):
    dates = np.datetime64("2020-01-02T09:30") + np.timedelta64(5, "m") * np.arange(300)
    _, prices = price_rows(300)
    rows = [("date", "close")] + [(str(d), repr(float(p))) for d, p in zip(dates, prices)]
    path = write_csv(tmp_path / "p.csv", rows)
    assert main(FAST + ["--csv", path, "--column", "close", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "historical simulation (250-row window)" in out and "HS 250 rows" in out
    assert "1000 draws per row; the 250-row window for HS" in out
    assert " day" not in out, out


def test_returns_that_look_like_percentages_get_a_note():
    r = np.random.default_rng(1).standard_t(4, 700)  # the same returns, in percent
    note = _units_note(Series("r", "returns", r, None, r, None, ()))
    assert re.fullmatch(r"note: the median \|return\| is 0\.\d+, i\.e\. \d+% per row if the "
                        r"returns are fractions; if they are percentages, divide the column by "
                        r"100 \(the table reads returns as fractions and shows VaR and ES in "
                        r"%\)", note), note
    assert _units_note(Series("r", "returns", r / 100, None, r / 100, None, ())) is None
    days = np.datetime64("2020-01-01") + np.arange(700)
    assert "i.e. 75% a day if" in _units_note(Series("r", "returns", r, days, r, days, ()))
    prices = np.exp(np.cumsum(r))  # even wild log returns computed from prices: fractions
    assert _units_note(Series("p", "prices", prices, None, r, None, ())) is None


def test_load_csv_series(tmp_path):
    path = tmp_path / "p.csv"
    prices = write_prices(path, n=30, date_column="date")
    series = load_csv_series(str(path), "close")
    np.testing.assert_array_equal(series.values, prices)
    np.testing.assert_allclose(series.returns, np.diff(np.log(prices)))
    assert series.kind == "prices" and series.dates[0] == np.datetime64("2020-01-01")
    assert len(series.dates) == 30 and len(series.return_dates) == 29
    assert series.notes[0].startswith("kind: prices (every value positive")
    volume = load_csv_series(path, "volume", date_column="date", kind="returns")
    assert volume.values.sum() == 30_000 and volume.notes == ()
    assert volume.name == f"volume of {path} (returns)"
    with pytest.raises(ValueError, match="kind must be one of auto, prices, returns; got 'price'"):
        load_csv_series(path, "close", kind="price")


@pytest.mark.parametrize("path", [None, 0, 3.5])
def test_load_csv_series_names_a_path_that_is_no_path(path):
    # open() read the int 0 as standard input (a hang) and failed on None with a TypeError.
    with pytest.raises(ValueError, match="path must be a str or path-like; got"):
        load_csv_series(path, "close")


def test_historical_simulation_by_hand():
    r = np.random.default_rng(0).normal(size=400)
    by_level, interval = historical_simulation(r, first=300, levels=(0.99,), window=250)
    var, es = by_level[0.99]
    assert var.shape == es.shape == (100,) and interval.shape == (100, 2)
    window = r[50:300]  # the 250 returns before day 300
    q = np.quantile(window, 0.01)
    assert var[0] == pytest.approx(-q)
    assert es[0] == pytest.approx(-window[window <= q].mean())
    np.testing.assert_allclose(interval[-1], np.quantile(r[149:399], [0.05, 0.95]))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--csv", "missing.csv", "--column", "x"], "cannot read missing.csv: No such file"),
        (["--csv", "{bad}", "--column", "x"], "column 'x' is not in .*; its columns are: "
                                              "date, close"),
        (["--csv", "{bad}", "--column", "close"], "non-numeric value 'abc' on line 3"),
        (["--csv", "{bad}"], "--csv needs --column"),
        (["--column", "close"], "--column needs --csv"),
        # The options of the CSV were ignored without one: the S&P 500 ran as if not given.
        (["--kind", "prices"], "--kind needs --csv"),
        (["--kind", "auto"], "--kind needs --csv"),
        (["--missing", "drop"], "--missing needs --csv"),
        (["--date-column", "Date"], "--date-column needs --csv"),
        (["--decimal", ","], "--decimal needs --csv"),
        (["--no-dates"], "--no-dates needs --csv"),
        (["--test-start", "2015-13-01"], "--test-start must be a date"),
        (["--csv", "{short}", "--column", "close"], "too short: 40 prices, i.e. 39 returns"),
    ],
)
def test_bad_input_gives_one_line(tmp_path, capsys, args, message):
    bad, short = tmp_path / "bad.csv", tmp_path / "short.csv"
    bad.write_text("date,close\n2020-01-01,100\n2020-01-02,abc\n")
    write_prices(short, n=40)
    args = [a.format(bad=bad, short=short) for a in args]
    assert_refused(capsys, args + ["--no-plot"], message)


def test_help_and_console_entry_point():
    done = subprocess.run([sys.executable, "-m", "skqegm", "--help"], capture_output=True,
                          text=True, check=True)
    for option in ("--csv FILE", "--column NAME", "--kind", "--test-start", "--plot FILE",
                   "--max-epochs", "--seed"):
        assert option in done.stdout, option


@pytest.mark.parametrize("first, window, match", [
    (50, 100, "first must be"),     # windows would start before the series
    (300, 100, "first must be"),    # nothing left to forecast
    (250, 1, "window must be"),
])
def test_historical_simulation_rejects_misaligned_windows(first, window, match):
    with pytest.raises(ValueError, match=match):
        historical_simulation(np.zeros(300), first, window=window)


# -- bad inputs: each is refused before anything is fitted or printed ------------------------
def load(path, **options):
    return load_csv_series(path, "close", **options)


@pytest.mark.parametrize("bad", ["0", "-5.25", "0.0"])
def test_auto_kind_refuses_prices_with_a_non_positive_row(tmp_path, capsys, bad):
    rows, _ = price_rows(300)
    rows[101] = (rows[101][0], bad)  # line 102
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   rf"kind='auto': column 'close' is positive on 299 of its 300 rows, like "
                   rf"prices, but line 102 holds {float(bad):g}, .* pass kind='returns' "
                   r"\(--kind returns on the command line\)")


def test_kind_prices_names_the_first_non_positive_row(tmp_path, capsys):
    rows, _ = price_rows(300)
    rows[200], rows[6] = (rows[200][0], "0"), (rows[6][0], "-1")
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--kind", "prices",
                            "--no-plot"],
                   r"kind='prices': column 'close' of .*p.csv holds -1 on line 7; prices must "
                   r"be positive")


def test_auto_kind_takes_returns_centred_on_zero(tmp_path):
    r = 0.01 * np.random.default_rng(0).standard_t(4, 50)
    path = write_csv(tmp_path / "r.csv", [("close",)] + [(repr(float(v)),) for v in r])
    series = load(path)
    assert series.kind == "returns" and series.dates is None
    np.testing.assert_array_equal(series.returns, r)
    assert re.fullmatch(r"kind: returns \(centred near 0: \d+% negative, \d+% positive; "
                        r"median \|value\| 0\.0\d+\)", series.notes[0])


@pytest.mark.parametrize("values, message", [
    ([0.0] * 40 + [0.01, -0.01] * 2, "neither prices .* nor returns .*: 5% negative, 91% zero"),
    ((-np.arange(1.0, 45.0)).tolist(), "neither prices"),
    # positive everywhere but jumping like iid draws: a volume or a volatility, not prices
    (np.exp(3 * np.random.default_rng(0).normal(size=44)).tolist(), "median move between rows"),
])
def test_auto_kind_refuses_columns_like_neither(tmp_path, values, message):
    path = write_csv(tmp_path / "x.csv", [("close",)] + [(repr(v),) for v in values])
    with pytest.raises(ValueError, match=message):
        load(path)
    assert load(path, kind="returns").kind == "returns"  # an explicit kind is obeyed


def test_auto_kind_refuses_gross_returns(tmp_path, capsys):
    # Gross returns 1 + r are positive and move little between rows, as prices do: they
    # were taken for prices (with a warning about yields), and their "log returns"
    # r[t] - r[t-1] had 1.43 times the spread of the returns and a 1% quantile 1.49 times
    # as deep. Prices persist (lag-1 autocorrelation near 1), gross returns do not.
    r = 0.01 * np.random.default_rng(0).standard_t(4, 1000)
    rows, prices = price_rows(1000)
    gross = [rows[0]] + [(date, repr(float(1 + v))) for (date, _), v in zip(rows[1:], r)]
    path = write_csv(tmp_path / "g.csv", gross)
    with pytest.raises(ValueError, match=r"kind='auto': column 'close' is positive and moves "
                                         r"little between rows, like prices, but does not "
                                         r"persist as prices do \(lag-1 autocorrelation "
                                         r"-0\.02; prices: near 1\): it may hold gross "
                                         r"returns"):
        load(path)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   "pass kind='returns' .* if it holds prices, pass kind='prices'")
    assert load(path, kind="prices").kind == "prices"  # an explicit kind is obeyed
    # prices persist: random walks of 100 rows and more, and a constant (refused later)
    for seed in range(20):
        assert load(write_csv(tmp_path / "p.csv", price_rows(100, seed)[0])).kind == "prices"
    constant = [rows[0]] + [(date, "100") for date, _ in rows[1:]]
    assert load(write_csv(tmp_path / "c.csv", constant)).kind == "prices"


@pytest.mark.parametrize("share", [0.1, 0.4])
def test_auto_kind_refuses_prices_with_sentinel_rows(tmp_path, share):
    # -999 for a missing price: with both signs present, only the persistence of the
    # positive values tells these prices from returns.
    rows, _ = price_rows(100)
    for i in range(100 - int(100 * share), 100):
        rows[i + 1] = (rows[i + 1][0], "-999")
    with pytest.raises(ValueError, match=rf"positive on {100 - int(100 * share)} of its 100 "
                                         r"rows, like prices, but line \d+ holds -999"):
        load(write_csv(tmp_path / "p.csv", rows))


def fred_levels(n=300, start=2.0, scale=0.03, seed=0):
    """A FRED-like daily series of a yield or a spread: a random walk around ``start``."""
    levels = start + np.cumsum(scale * np.random.default_rng(seed).standard_normal(n))
    dates = np.datetime64("2020-01-01") + np.arange(n)
    return levels, dates


@pytest.mark.parametrize("name", ["DGS10", "DFII10", "yield", "10Y Yield"])
def test_auto_kind_refuses_a_yield_named_as_such(tmp_path, capsys, name):
    # FRED's 10-year Treasury yield (0.5 to 7) moves like a price level of 0.5 to 7:
    # kind='auto' took it for prices and backtested the log changes of a yield, silently.
    levels, dates = fred_levels(start=4.0)
    assert levels.min() > 0
    rows = [("observation_date", name)] + [(d, f"{v:.2f}") for d, v in zip(dates, levels)]
    path = write_csv(tmp_path / "y.csv", rows)
    message = (rf"kind='auto': column '{name}' is positive and persistent, like prices, and "
               r"its name says a yield or an interest rate, which kind='auto' cannot tell from "
               r"prices or returns: .* pass kind='returns' \(--kind returns on the command "
               r"line\), or pass kind='prices' \(--kind prices on the command line\) to take")
    with pytest.raises(ValueError, match=message):
        load_csv_series(path, name)
    assert_refused(capsys, ["--csv", path, "--column", name, "--no-plot"], message)
    # an explicit kind is obeyed; the same values named otherwise are prices, with a
    # warning (see the next test)
    assert load_csv_series(path, name, kind="prices").kind == "prices"
    rows[0] = ("observation_date", "close")
    with pytest.warns(UserWarning, match="may as well be a yield"):
        assert load(write_csv(tmp_path / "c.csv", rows)).kind == "prices"


def test_auto_kind_warns_of_prices_that_may_be_a_yield(tmp_path, capsys, recwarn):
    # A yield of 3.7 to 4.4 under a price's name was taken for prices without a word.
    levels, dates = fred_levels(start=4.0)
    rows = [("date", "close")] + [(d, f"{v:.2f}") for d, v in zip(dates, levels)]
    path = write_csv(tmp_path / "y.csv", rows)
    message = (r"kind='auto' took column 'close' for prices, but its values \(3\.\d+ to "
               r"4\.\d+\) may as well be a yield or an interest rate in percent, .* pass "
               r"kind='returns' .*; if it holds prices, pass kind='prices' \(--kind prices on "
               r"the command line\), which silences this warning\.")
    with pytest.warns(UserWarning, match=message):
        series = load_csv_series(path, "close")
    assert series.kind == "prices" and re.search("; " + message, series.notes[-1])
    recwarn.clear()
    assert load_csv_series(path, "close", kind="prices").notes == ()
    # prices above 25 (the shipped S&P 500, from 1229 on 1999-01-04; a $100 stock) are
    # taken without a warning
    sp500 = 1229.23 * np.exp(np.cumsum(load_sp500_returns()))
    sp500 = write_csv(tmp_path / "sp.csv", [("date", "close")] + [
        (d, repr(float(p))) for d, p in zip(load_sp500_dates(), sp500)])
    assert load(sp500).kind == "prices" and load(write_csv(tmp_path / "p.csv",
                                                           price_rows(300)[0])).kind == "prices"
    assert len(recwarn) == 0
    # the main job says it once, in the note it prints, not as a warning on stderr
    assert main(FAST + ["--csv", path, "--column", "close", "--test-fraction", "0.1",
                        "--no-plot"]) == 0
    out, err = capsys.readouterr()
    assert re.search(message, out) and err == "" and len(recwarn) == 0


def test_auto_kind_on_levels_that_touch_or_cross_zero(tmp_path):
    # A 1-month bill yield at 0.00 (2020-2021) or a spread crossing 0: the refusal says
    # what such a column is, and a spread taken for returns is refused by name, or noted.
    levels, dates = fred_levels(start=0.3)
    levels = np.maximum(levels.round(2), 0)  # a bill yield floored at 0.00
    assert 0.9 < np.mean(levels > 0) < 1
    rows = [("observation_date", "DGS1MO")] + [(d, f"{v:.2f}") for d, v in zip(dates, levels)]
    with pytest.raises(ValueError, match=r"which no price can be; .* A yield, a rate or a "
                                         r"spread \(levels that may be <= 0\) is neither"):
        load_csv_series(write_csv(tmp_path / "b.csv", rows), "DGS1MO")
    spread, _ = fred_levels(start=0.0, scale=0.05, seed=3)
    spread = (spread - np.median(spread)).round(2)  # as often below 0 as above
    assert 0.4 < np.mean(spread > 0) <= 0.5
    rows = [("observation_date", "T10Y2Y")] + [(d, f"{v:.2f}") for d, v in zip(dates, spread)]
    path = write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(ValueError, match=r"column 'T10Y2Y' is persistent \(lag-1 "
                                         r"autocorrelation 0\.9\d\), unlike returns, and its "
                                         "name says a yield"):
        load_csv_series(path, "T10Y2Y")
    assert load_csv_series(path, "T10Y2Y", kind="returns").kind == "returns"
    rows[0] = ("observation_date", "close")
    series = load(write_csv(tmp_path / "n.csv", rows))
    assert series.kind == "returns" and re.search(
        r"; but their lag-1 autocorrelation is 0\.9\d, unlike returns: if the column is a "
        r"level that crosses 0 \(a spread, a real yield\), compute the returns", series.notes[-1])
    # returns, even of a column named like a yield's changes, are left alone
    changes = np.diff(spread)
    rows = [("observation_date", "yield_change")] + [(d, f"{v:.4f}")
                                                      for d, v in zip(dates, changes)]
    series = load_csv_series(write_csv(tmp_path / "d.csv", rows), "yield_change")
    assert series.kind == "returns" and "autocorrelation" not in series.notes[-1]


def test_auto_kind_takes_coarsely_rounded_returns(tmp_path):
    r = np.round(0.01 * np.random.default_rng(0).standard_t(4, 300), 2)  # many ties and 0s
    path = write_csv(tmp_path / "r.csv", [("close",)] + [(repr(float(v)),) for v in r])
    assert load(path).kind == "returns"


def test_newest_first_is_reversed_with_a_note(tmp_path):
    rows, prices = price_rows(40)
    ascending = load(write_csv(tmp_path / "a.csv", rows))
    descending = load(write_csv(tmp_path / "d.csv", rows[:1] + rows[:0:-1]))
    np.testing.assert_array_equal(descending.values, prices)
    np.testing.assert_array_equal(descending.returns, ascending.returns)
    np.testing.assert_array_equal(descending.return_dates, ascending.return_dates)
    assert descending.notes[0] == "dates are newest first; reversed to oldest first"
    assert descending.returns[0] == pytest.approx(np.log(prices[1] / prices[0]))


def test_newest_first_european_export_runs_end_to_end(tmp_path, capsys):
    # What a spreadsheet in a European locale writes: a BOM, ';', decimal commas and the
    # newest day first. It must give the same job as the plain file.
    rows, _ = price_rows(300)
    european = [rows[0]] + [(d, p.replace(".", ",")) for d, p in rows[:0:-1]]
    path = tmp_path / "eu.csv"
    write_csv(path, european, sep=";", encoding="utf-8-sig")
    assert main(FAST + ["--csv", str(path), "--column", "close", "--no-plot"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "dates are newest first; reversed to oldest first"
    assert out[2].startswith("kind: prices (every value positive")
    assert "fit on 228 days (2020-01-24 to 2020-09-07), test on 49 days" in out[3]


def test_disordered_and_repeated_dates_are_refused(tmp_path, capsys):
    rows, _ = price_rows(300)
    shuffled = rows[:50] + [rows[51], rows[50]] + rows[52:]
    path = write_csv(tmp_path / "s.csv", shuffled)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"neither oldest first nor newest first: line 52 has 2020-02-19 after "
                   r"2020-02-20 on line 51; sort the file by date")
    repeated = rows[:60] + [(rows[59][0], rows[60][1])] + rows[61:]
    path = write_csv(tmp_path / "r.csv", repeated)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"line 61 of .*r.csv repeats the date 2020-02-28 of line 60")
    # also when the rest of the file is newest first
    path = write_csv(tmp_path / "rd.csv", repeated[:1] + repeated[:0:-1])
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"line 243 of .*rd.csv repeats the date 2020-02-28 of line 242")


@pytest.mark.parametrize("cell", ["2020/01/11", "11.01.2020", "2020-13-01", "", "Jan 11 2020",
                                  "2020-01-11T25:00"])
def test_unparseable_dates_are_refused(tmp_path, capsys, cell):
    rows, _ = price_rows(300)
    rows[10] = (cell, rows[10][1])
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   rf"date column 'date' of .* has {re.escape(repr(cell))} on line 11, not a "
                   r"date YYYY-MM-DD")


def test_dates_with_a_time_of_day(tmp_path):
    intraday = [("datetime", "close"), ("2020-01-02 09:30", 10), ("2020-01-02T09:31:15", 11),
                ("2020-01-02 16:00:00", 12)]
    series = load(write_csv(tmp_path / "i.csv", intraday))
    assert series.dates.dtype == np.dtype("datetime64[s]")
    assert str(series.dates[1]) == "2020-01-02T09:31:15"
    midnight = [("Date", "close"), ("2020-01-02 00:00:00", 10), ("2020-01-03 00:00", 11)]
    assert load(write_csv(tmp_path / "m.csv", midnight)).dates.dtype == np.dtype("datetime64[D]")


def test_bom_and_decorated_header_names(tmp_path):
    rows, prices = price_rows(30, header=(' "Date" ', " 'close' "))
    series = load(write_csv(tmp_path / "b.csv", rows, encoding="utf-8-sig"))
    np.testing.assert_array_equal(series.values, prices)
    assert series.dates[0] == np.datetime64("2020-01-01")


def test_a_header_of_empty_names_is_refused(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("'',''\n1,2\n")
    with pytest.raises(ValueError, match="names no column"):
        load_csv_series(path, "close")


@pytest.mark.parametrize("text", ['""\n', '\n""\n  \n'])
def test_a_file_of_blank_cells_is_refused_as_headerless(tmp_path, text):
    # Not blank as text, blank once parsed: no header row to find a column in.
    path = tmp_path / "q.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=r"q.csv has no header row: every line is blank"):
        load_csv_series(path, "close")


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
def test_separators_are_sniffed(tmp_path, sep):
    rows, prices = price_rows(30, header=("date", "open", "close"))
    rows = [rows[0]] + [(d, "1.5", p) for d, p in rows[1:]]
    series = load(write_csv(tmp_path / "s.csv", rows, sep=sep))
    np.testing.assert_array_equal(series.values, prices)


def test_decimal_commas(tmp_path, capsys):
    rows = [("date", "close"), ("2020-01-01", "1,5"), ("2020-01-02", "2,25"),
            ("2020-01-03", "-0,5")]
    series = load(write_csv(tmp_path / "c.csv", rows, sep=";"), kind="returns")
    np.testing.assert_array_equal(series.values, [1.5, 2.25, -0.5])
    # A '.' in a decimal-comma column is a thousands separator: not read as a decimal.
    rows[2] = ("2020-01-02", "2.500")
    with pytest.raises(ValueError, match=r"non-numeric value '2.500' on line 3 \(the column "
                                         r"uses decimal commas\)"):
        load(write_csv(tmp_path / "m.csv", rows, sep=";"))
    # With ',' as the separator a decimal comma splits the cell: a ragged row.
    rows, _ = price_rows(300)
    rows[5] = ("2020-01-05", "101", "25")
    path = write_csv(tmp_path / "r.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"line 6 of .* has 3 cells but the header has 2: a separator too many "
                   r"\(a decimal comma\?\)")


def test_quoted_thousands_commas_name_the_decimal_option(tmp_path):
    # An Investing.com export quotes "4,005.81" in a comma-separated file: refused, and
    # the message said nothing of decimal='.', which reads it.
    dates = np.datetime64("2020-01-01") + np.arange(3)
    path = tmp_path / "i.csv"
    path.write_text('"Date","Price"\n' + "".join(f'"{d}","{p}"\n' for d, p in zip(
        dates, ["4,005.81", "4,011.57", "998.50"])))
    with pytest.raises(ValueError, match=r"non-numeric value '4,005.81' on line 2; pass "
                                         r"decimal='\.' \(--decimal \. on the command line\) "
                                         "to read ',' as a thousands separator"):
        load_csv_series(path, "Price")
    values = load_csv_series(path, "Price", decimal=".", kind="prices").values
    np.testing.assert_array_equal(values, [4005.81, 4011.57, 998.5])


@pytest.mark.parametrize("mark, first, rows", [
    # A German export of prices crossing 1,000: '1.001' is 1001, read as 1.001 it made a
    # log return of -6.9 that kind='auto' took for a price move.
    (".", 4, ["998", "999", "1.001", "1.002"]),
    # The same with ',' as a thousands separator in a ';' file.
    (",", 4, ["998", "999", "1,001", "1,002"]),
])
def test_thousands_separator_or_decimal_mark_is_refused_as_ambiguous(tmp_path, mark, first,
                                                                      rows):
    dates = np.datetime64("2020-01-01") + np.arange(len(rows))
    path = write_csv(tmp_path / "t.csv", [("date", "close")] + list(zip(dates, rows)), sep=";")
    other = "." if mark == "," else ","
    with pytest.raises(ValueError, match=rf"column 'close' of .* is ambiguous: line {first} "
                                         rf"holds '1\{mark}001' and line 2 holds '998'; with "
                                         rf"';' as the separator, '\{mark}' may be a thousands "
                                         rf"separator \(1\{mark}001 = 1001\) or the decimal "
                                         rf"mark \(1\{mark}001 = 1.001\); pass "
                                         rf"decimal='\{other}' or decimal='\{mark}'"):
        load(path)
    # decimal says which reading is meant
    assert load(path, decimal=other).values.tolist() == [998, 999, 1001, 1002]
    assert load(path, decimal=mark).values.tolist() == [998, 999, 1.001, 1.002]
    # Integers alone are read; decimal commas alone too (the European convention).
    for values in (rows[:2],) + ((rows[2:],) if mark == "," else ()):
        path = write_csv(tmp_path / "u.csv", [("date", "close")] + list(zip(dates, values)),
                         sep=";")
        series = load(path)
        assert series.values.tolist() == [float(v.replace(",", ".")) for v in values]
    # With ',' as the separator '.' is the decimal point: nothing is ambiguous.
    path = write_csv(tmp_path / "v.csv", [("date", "close"), (dates[0], "998"),
                                          (dates[1], "1.001")])
    assert load(path, kind="prices").values.tolist() == [998.0, 1.001]


@pytest.mark.parametrize("values", [["1.001", "1.250", "1.500"],
                                    ["5", "1.001", "2.500"],
                                    ["-1.250", "3.000"]])
def test_a_semicolon_column_only_of_thousands_groups_is_refused(tmp_path, capsys, values):
    # In a ';' file '.' groups thousands (the European convention): a column of prices
    # all above 1,000 (1.001, 1.250, ...) was read as 1.001, 1.25: levels 1,000 times too
    # small, silently (their returns are the same).
    dates = np.datetime64("2020-01-01") + np.arange(len(values))
    path = write_csv(tmp_path / "t.csv", [("date", "close")] + list(zip(dates, values)),
                     sep=";")
    with pytest.raises(ValueError, match=r"column 'close' of .* is ambiguous: every number "
                                         r"with a '\.' has three digits after it, e\.g\. "
                                         rf"'{values[0] if '.' in values[0] else values[1]}' on "
                                         r"line \d; with ';' as the separator, '\.' may be a "
                                         r"thousands separator .* pass decimal=',' or "
                                         r"decimal='\.' \(--decimal , or --decimal \. on the "
                                         r"command line\) to say which\."):
        load(path, kind="returns")
    as_written = [float(v) for v in values]
    assert load(path, kind="returns", decimal=".").values.tolist() == as_written
    assert load(path, kind="returns", decimal=",").values.tolist() == [
        float(v.replace(".", "")) for v in values]
    # Any other count of decimals decides for the decimal point, as before
    for more in (["0.125", "0.250"], values + ["1.5"], values + ["1.2500"]):
        days = np.datetime64("2020-01-01") + np.arange(len(more))
        path = write_csv(tmp_path / "m.csv", [("date", "close")] + list(zip(days, more)),
                         sep=";")
        assert load(path, kind="returns").values.tolist() == [float(v) for v in more]
    # Tab and ',' files are not European by convention: read as decimals
    for sep in ("\t", ","):
        path = write_csv(tmp_path / "o.csv", [("date", "close")] + list(zip(dates, values)),
                         sep=sep)
        assert load(path, kind="returns").values.tolist() == as_written


def test_decimal_reads_the_other_mark_as_thousands(tmp_path, capsys):
    dates = np.datetime64("2020-01-01") + np.arange(4)
    rows = [("date", "close")] + list(zip(dates, ["1.234,5", "998,25", "1.001", "12"]))
    path = write_csv(tmp_path / "e.csv", rows, sep=";")
    assert load(path, decimal=",").values.tolist() == [1234.5, 998.25, 1001, 12]
    # without decimal, the '.' of 1.234,5 is refused, with the way to read it
    with pytest.raises(ValueError, match=r"non-numeric value '1\.234,5' on line 2 \(the column "
                                         r"uses decimal commas\); pass decimal=','"):
        load(path)
    rows = [("date", "close")] + list(zip(dates, ['"1,234.5"', "998.25", "1001", "12"]))
    path = write_csv(tmp_path / "u.csv", rows)
    assert load(path, decimal=".").values.tolist() == [1234.5, 998.25, 1001, 12]
    # a mark that does not group thousands is no number
    for cell, decimal in [("1.5", ","), ("1,5", "."), ("12.34", ","), ("0.001", ",")]:
        path = write_csv(tmp_path / "b.csv", [("date", "close"), (dates[0], cell)], sep=";")
        with pytest.raises(ValueError, match=rf"non-numeric value '{re.escape(cell)}' on "
                                             rf"line 2 \(read with decimal='{decimal}'\)"):
            load(path, decimal=decimal)
    for bad in ("comma", ";", True):
        with pytest.raises(ValueError, match=r"decimal must be None, '\.' or ','; got"):
            load(path, decimal=bad)
    job = _prepare(parse(["--csv", write_csv(tmp_path / "p.csv", price_rows(300)[0], sep=";"),
                          "--column", "close", "--decimal", ".", "--no-plot"]))
    assert len(job.series.values) == 300
    assert_parser_refuses(capsys, ["--decimal", "x"], "argument --decimal: invalid choice")


def test_a_file_too_large_to_read_is_refused_with_an_estimate(tmp_path, capsys, monkeypatch):
    # A file of several GB was read until the process was killed; then every cell of
    # every column was held (12 times the size of a file of 30 columns) while the series
    # needs two columns. Only those are held now, and estimated.
    import tracemalloc

    from skqegm.datasets.csv_series import CELL_BYTES, CELL_CHARS, ROW_BYTES

    _, prices = price_rows(5000)
    dates = np.datetime64("2020-01-01") + np.arange(5000)
    rows = [("date",) + tuple(f"c{j}" for j in range(29))]
    rows += [(d,) + (repr(float(p)),) * 29 for d, p in zip(dates, prices)]
    path = write_csv(tmp_path / "w.csv", rows)
    estimate = 5001 * (ROW_BYTES + 2 * (CELL_BYTES + CELL_CHARS))
    tracemalloc.start()
    try:
        series = load_csv_series(path, "c3")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0.85 * peak <= estimate <= 1.2 * peak, (estimate, peak)
    np.testing.assert_array_equal(series.values, prices)
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.001")
    with pytest.raises(MemoryLimitError, match=r"reading .*w\.csv \(5,001 lines, 2 of its 30 "
                                               r"columns\) needs an estimated 1\.39 MiB"):
        load_csv_series(path, "c3")
    assert_refused(capsys, ["--csv", path, "--column", "c3", "--no-plot"],
                   r"needs an estimated .* of memory, more than the 1.02 MiB available")
    # without dates one column is held
    with pytest.raises(MemoryLimitError, match=r"\(5,001 lines, 1 of its 30 columns\)"):
        load_csv_series(path, "c3", date_column=False)
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "0.002")  # held every cell: 16 MiB
    assert len(load_csv_series(path, "c3").returns) == 4999


def test_the_memory_estimate_follows_the_length_of_the_cells(tmp_path, monkeypatch):
    # The estimate assumed cells of about 20 characters: a file of cells padded to 200
    # needed 1.8 times the estimate, and was read past the memory limit. The cells read
    # so far now estimate the lines left.
    import tracemalloc

    rows, prices = price_rows(20_000)
    rows = [rows[0]] + [(date, f"{float(p):.2f}".rjust(200)) for date, p in rows[1:]]
    path = write_csv(tmp_path / "long.csv", rows)
    tracemalloc.start()
    try:
        load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", str(0.75 * peak / 2**30))
    with pytest.raises(MemoryLimitError, match=r"reading the 18,976 lines left of .*long\.csv "
                                               r"\(20,001 lines, 2 of its 2 columns; 105 "
                                               r"characters a cell in the 1,024 rows read\) "
                                               r"needs an estimated "):
        load(path)
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", str(1.05 * peak / 2**30))
    np.testing.assert_allclose(load(path).values, prices, atol=0.005)  # read where it fits


def test_lines_ending_in_cr_and_lf_alike_are_counted(tmp_path, monkeypatch):
    # max(count of \n, count of \r) counted a file whose lines end in \r, \n and \r\n
    # alike as two thirds of its lines, and estimated its memory as much too low.
    rows, prices = price_rows(300)
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"".join(",".join(map(str, row)).encode() + (b"\r", b"\n", b"\r\n")[i % 3]
                              for i, row in enumerate(rows)))
    np.testing.assert_array_equal(load(path).values, prices)  # csv reads every line
    monkeypatch.setenv("SKQEGM_MEMORY_LIMIT_GB", "1e-6")
    with pytest.raises(MemoryLimitError, match=r"\(301 lines, 2 of its 2 columns\)"):
        load(path)


def test_a_date_column_with_another_name_is_found_by_its_cells(tmp_path):
    # Eikon writes "Exchange Date" and FRED "observation_date", newest first for the
    # former: without a column named date the file order was taken as time order, and
    # prices newest first gave returns of the wrong sign, silently.
    rows, prices = price_rows(40, header=("Exchange Date", "close"))
    series = load(write_csv(tmp_path / "e.csv", [rows[0]] + rows[:0:-1]))
    np.testing.assert_allclose(series.returns, np.diff(np.log(prices)))
    assert series.dates[0] == np.datetime64("2020-01-01")
    assert series.notes[:2] == ("dates from column 'Exchange Date'",
                                "dates are newest first; reversed to oldest first")
    # a column that is not dates is not taken for one
    path = write_csv(tmp_path / "n.csv", [("id", "close"), ("a7", "1.0"), ("b8", "1.1")])
    assert load(path).dates is None


@pytest.mark.parametrize("header, date_format", [
    (("Exchange Date", "close"), "{d}/{m}/{y}"),  # Eikon, in a European locale
    (("Dates", "close"), "{y}{m}{d}"),  # by its name: YYYYMMDD numbers
    (("when", "close"), "{d}-Jan-{y}"),  # by its cells
    (("TradeDate", "close"), "{m}/{d}/{y} 16:00"),
])
def test_a_date_column_in_another_format_is_refused(tmp_path, capsys, header, date_format):
    # Without a column of ISO dates the file's order was taken as the time order, silently:
    # prices newest first dated 31/01/2020 ... gave returns of the wrong sign.
    rows, prices = price_rows(31, header=header)
    rows[1:] = [(date_format.format(y=str(d)[:4], m=str(d)[5:7], d=str(d)[8:10]), p)
                for d, p in rows[:0:-1]]  # newest first
    path = write_csv(tmp_path / "d.csv", rows)
    first = re.escape(rows[1][0])
    with pytest.raises(ValueError, match=rf"column '{header[0]}' of .*d\.csv looks like dates "
                                         rf"\('{first}' on line 2\) but is not read: dates "
                                         r"must be YYYY-MM-DD"):
        load(path)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"or pass date_column=False \(--no-dates on the command line\)")
    # date_column=False takes the file's order, as asked
    np.testing.assert_allclose(load(path, date_column=False).values, prices[::-1])


def test_date_detection_can_be_switched_off(tmp_path, capsys):
    # A first column that merely looks like dates (here the settlement date of each
    # row, out of order) was always taken for the time index and the file refused.
    rows, prices = price_rows(300, header=("settles", "close"))
    rows[1:] = [(str(np.datetime64("2021-01-01") + (7 * i) % 300), p)
                for i, (_, p) in enumerate(rows[1:])]
    path = write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(ValueError, match="neither oldest first nor newest first"):
        load(path)
    series = load(path, date_column=False)
    assert series.dates is None and series.notes == (series.notes[-1],)
    np.testing.assert_allclose(series.returns, np.diff(np.log(prices)))
    # a column *named* date too
    rows[0] = ("date", "close")
    assert load(write_csv(tmp_path / "d.csv", rows), date_column=False).dates is None
    job = _prepare(parse(["--csv", path, "--column", "close", "--no-dates", "--no-plot"]))
    assert job.row_dates is None and job.unit == "row"
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-dates", "--date-column",
                            "settles"], "--no-dates and --date-column exclude each other")


@pytest.mark.parametrize("date_column", [True, 0, ["date"]])
def test_date_column_must_be_a_name_none_or_false(tmp_path, date_column):
    rows, _ = price_rows(30)
    with pytest.raises(ValueError, match=r"date_column must be a column name \(str\), None "
                                         rf"\(found from the columns\) or False \(no dates\); "
                                         rf"got {re.escape(repr(date_column))}\."):
        load(write_csv(tmp_path / "p.csv", rows), date_column=date_column)


@pytest.mark.parametrize("cell", ["2020-01-02 00:00:00-05:00", "2020-01-02T14:30:00Z",
                                  "2020-01-02 09:30:00+0100"])
def test_a_date_with_a_time_zone_is_refused_naming_the_zone(tmp_path, cell):
    # What yfinance's to_csv writes; the message said only "not a date YYYY-MM-DD".
    path = write_csv(tmp_path / "z.csv", [("Date", "close"), (cell, "100")])
    with pytest.raises(ValueError, match=rf"has '{re.escape(cell)}' on line 2: a time zone "
                                         r"\(.*\) is not read; write the local dates or "
                                         "times without it"):
        load(path)


def test_excel_sep_line_sets_the_separator(tmp_path):
    # Excel's "sep=;" first line was taken for the header: "line 2 has 2 cells but the
    # header has 1".
    path = tmp_path / "s.csv"
    path.write_text("sep=;\nDate;close\n2020-01-02;100,5\n2020-01-03;abc\n")
    with pytest.raises(ValueError, match="non-numeric value 'abc' on line 4"):
        load(str(path))
    path.write_text("sep=;\nDate;close\n2020-01-02;100,5\n2020-01-03;101\n")
    series = load(str(path))
    assert series.values.tolist() == [100.5, 101.0] and len(series.dates) == 2


def test_non_utf8_file_is_refused(tmp_path, capsys):
    path = tmp_path / "latin1.csv"
    path.write_bytes("date,clôture\n2020-01-01,1\n".encode("latin-1"))
    assert_refused(capsys, ["--csv", str(path), "--column", "close", "--no-plot"],
                   r"cannot read .* as UTF-8 text: invalid continuation byte at byte 7")


@pytest.mark.parametrize("kind, hint", [("gzip", "it is compressed with gzip: decompress it"),
                                        ("utf-16", "it is UTF-16 .*: save it as CSV UTF-8")])
def test_gzip_and_utf16_files_are_named_as_such(tmp_path, kind, hint):
    # The message said "invalid start byte at byte 1", of a .csv.gz or of Excel's
    # "Unicode text" export.
    import gzip

    text = "date,close\n2020-01-01,1\n"
    data = gzip.compress(text.encode()) if kind == "gzip" else text.encode("utf-16")
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(ValueError, match=f"cannot read .* as UTF-8 text: {hint}"):
        load(str(path))


def test_ragged_rows_and_missing_cells(tmp_path, capsys):
    rows, _ = price_rows(300, header=("date", "close", "volume"))
    rows = [rows[0]] + [(d, p, "1000") for d, p in rows[1:]]
    short = rows[:20] + [("2020-01-20", "101.5")] + rows[21:]
    path = write_csv(tmp_path / "s.csv", short)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"line 21 of .* has 2 cells but the header has 3: a cell or a separator "
                   r"is missing")
    # an empty value cell; the blank rows before it are skipped but still counted
    missing = rows[:5] + [(), ("", "", "")] + rows[5:20] + [("2020-01-20", "", "1000")] \
        + rows[21:]
    path = write_csv(tmp_path / "m.csv", missing)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"column 'close' of .* has no value on line 23")


def test_blank_rows_and_trailing_separators_are_accepted(tmp_path):
    rows, prices = price_rows(30)
    rows = [(*rows[0], ""), ()] + [(d, p, "") for d, p in rows[1:15]] + [("", "")] \
        + rows[15:] + [()]
    series = load(write_csv(tmp_path / "t.csv", rows))
    np.testing.assert_array_equal(series.values, prices)


def fred_rows(n=300, holidays=(3, 50, 51, 200), marker="."):
    """A FRED-style export: ``marker`` instead of a price on the ``holidays`` rows."""
    rows, prices = price_rows(n, header=("DATE", "DCOILWTICO"))
    for k in holidays:
        rows[k + 1] = (rows[k + 1][0], marker)
    kept = np.setdiff1d(np.arange(n), holidays)
    return rows, prices[kept], kept


@pytest.mark.parametrize("marker", [".", "", "#N/A", "NaN", " na "])
def test_rows_without_a_value_are_dropped_on_request(tmp_path, marker):
    rows, prices, kept = fred_rows(marker=marker)
    path = write_csv(tmp_path / "fred.csv", rows)
    with pytest.raises(ValueError, match=r"on line 5; pass missing='drop' \(--missing drop "
                                         r"on the command line\) to skip the rows"):
        load_csv_series(path, "DCOILWTICO")
    series = load_csv_series(path, "DCOILWTICO", missing="drop")
    np.testing.assert_array_equal(series.values, prices)
    np.testing.assert_array_equal(series.dates, np.datetime64("2020-01-01") + kept)
    # The return after a holiday is the change since the last day with a price.
    np.testing.assert_allclose(series.returns, np.diff(np.log(prices)), rtol=1e-12)
    np.testing.assert_array_equal(series.return_dates, series.dates[1:])
    assert (f"dropped 4 rows without a value in column 'DCOILWTICO' (the first on line 5: "
            f"{marker.strip()!r}); the returns span them") in series.notes
    assert series.kind == "prices"


def test_dropped_returns_are_said_to_be_left_out(tmp_path):
    # The note said "the returns span them" of a column of returns, where the dropped
    # days' returns are lost, not spanned.
    r = 0.01 * np.random.default_rng(3).standard_normal(30)
    rows = [("date", "r")] + [(np.datetime64("2020-01-01") + i, repr(float(v)))
                              for i, v in enumerate(r)]
    rows[4] = (rows[4][0], ".")
    series = load_csv_series(write_csv(tmp_path / "r.csv", rows), "r", missing="drop")
    assert series.kind == "returns" and len(series.returns) == 29
    assert ("dropped 1 row without a value in column 'r' (the first on line 5: '.'); "
            "their returns are left out") in series.notes


def test_dropping_keeps_refusing_what_is_not_missing(tmp_path):
    rows, _, _ = fred_rows()
    rows[10] = (rows[10][0], "12%")
    path = write_csv(tmp_path / "fred.csv", rows)
    with pytest.raises(ValueError, match=r"non-numeric value '12%' on line 11\.$"):
        load_csv_series(path, "DCOILWTICO", missing="drop")
    rows = [rows[0]] + [(d, ".") for d, _ in rows[1:]]
    with pytest.raises(ValueError, match=r"column 'DCOILWTICO' of .* has no values"):
        load_csv_series(write_csv(tmp_path / "empty.csv", rows), "DCOILWTICO", missing="drop")
    with pytest.raises(ValueError, match=r"missing must be one of raise, drop; got 'skip'"):
        load_csv_series(path, "DCOILWTICO", missing="skip")


def test_main_job_drops_missing_rows_with_a_note(tmp_path, capsys):
    rows, _, _ = fred_rows(n=900)
    path = write_csv(tmp_path / "fred.csv", rows)
    argv = FAST + ["--csv", path, "--column", "DCOILWTICO", "--no-plot"]
    assert_refused(capsys, argv, r"no value \('\.'\) on line 5; pass missing='drop'")
    assert main(argv + ["--missing", "drop"]) == 0
    assert "dropped 4 rows without a value in column 'DCOILWTICO'" in capsys.readouterr().out


@pytest.mark.parametrize("cell, what", [
    ("inf", "a non-finite value 'inf'"), ("-inf", "a non-finite value '-inf'"),
    ("Infinity", "a non-finite value 'Infinity'"),
    ("nan", "no value \\('nan'\\)"), ("NaN", "no value \\('NaN'\\)"),  # NaN: missing
])
def test_non_finite_values_are_refused(tmp_path, capsys, cell, what):
    rows, _ = price_rows(300)
    rows[42] = (rows[42][0], cell)
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   rf"column 'close' of .* has {what} on line 43")


@pytest.mark.parametrize("cell", ["1_000", "1.2.3", "12%", "0x10", "1e", "--1"])
def test_non_numeric_values_are_refused(tmp_path, cell):
    rows, _ = price_rows(30)
    rows[7] = (rows[7][0], cell)
    with pytest.raises(ValueError, match=rf"non-numeric value '{re.escape(cell)}' on line 8"):
        load(write_csv(tmp_path / "p.csv", rows))


def test_one_column_file_with_decimal_commas_is_refused(tmp_path):
    # With one column the header shows no separator, so '1,5' reads as two cells.
    path = write_csv(tmp_path / "c.csv", [("close",), ("1,5",), ("1,25",)])
    with pytest.raises(ValueError, match=r"line 2 of .* has 2 cells but the header has 1: a "
                                         r"separator too many \(a decimal comma\?\)"):
        load(path)


def test_a_repeated_column_name_is_refused(tmp_path):
    path = write_csv(tmp_path / "p.csv", [("date", "close", "close"), ("2020-01-01", 1, 2)])
    with pytest.raises(ValueError, match="column 'close' appears 2 times in the header"):
        load(path)


@pytest.mark.parametrize("n, message", [
    (0, "column 'close' of .* has no values"),
    (1, "too short: 1 price, i.e. 0 returns; the backtest needs at least 252 returns"),
    (2, "too short: 2 prices, i.e. 1 return;"),
    (252, "too short: 252 prices, i.e. 251 returns;"),
])
def test_short_series_are_refused(tmp_path, capsys, n, message):
    rows, _ = price_rows(n)
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"], message)


def test_a_short_series_is_refused_in_its_own_units(tmp_path, capsys):
    # The job words its rows by the dates' frequency; its refusal said "days" of weeks.
    rows, _ = price_rows(200)
    weekly = [rows[0]] + [(np.datetime64("2020-01-06") + 7 * i, price)
                          for i, (_, price) in enumerate(rows[1:])]
    path = write_csv(tmp_path / "p.csv", weekly)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   "before the first held-out week, and 2 held-out weeks")
    path = write_csv(tmp_path / "n.csv", [("close",)] + [(price,) for _, price in rows[1:]])
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   "before the first held-out row, and 2 held-out rows")


def test_constant_prices_are_refused_before_any_fit(tmp_path, capsys):
    rows, _ = price_rows(300)
    rows = [rows[0]] + [(date, "100.0") for date, _ in rows[1:]]
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-plot"],
                   r"the returns are constant \(every one is 0\): a tail model needs")


def test_the_shortest_series_holds_out_two_days(tmp_path):
    rows, _ = price_rows(253)
    path = write_csv(tmp_path / "p.csv", rows)
    job = _prepare(parse(FAST + ["--csv", path, "--column", "close", "--no-plot"]))
    assert job.first == 228 and len(job.y) - job.first == 2


@pytest.mark.parametrize("test_start, message", [
    ("2019-12-31", "--test-start 2019-12-31 is outside the data, which runs from 2020-01-01 "
                   "to 2020-10-26"),
    ("2020-10-27", "is outside the data"),
    ("2020-09-07", "too early: .* can start on 2020-09-08 at the earliest"),
    ("2020-10-26", "holds out 1 day, too few: .* start on 2020-10-25 at the latest"),
    ("2020-10-26 12:00", "is outside the data"),  # after the last day's midnight
    ("26/10/2020", "--test-start must be a date YYYY-MM-DD; got '26/10/2020'"),
])
def test_test_start_out_of_range(tmp_path, capsys, test_start, message):
    rows, _ = price_rows(300)
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--test-start", test_start,
                            "--no-plot"], message)


def test_test_start_in_range(tmp_path):
    rows, _ = price_rows(300)
    path = write_csv(tmp_path / "p.csv", rows)
    for start, first in [("2020-09-08", 228), ("2020-10-25", 275)]:
        job = _prepare(parse(["--csv", path, "--column", "close", "--test-start", start,
                              "--no-plot"]))
        assert job.first == first and str(job.row_dates[first]) == start


@pytest.mark.parametrize("option, value, message", [
    ("--test-fraction", "0", r"argument --test-fraction: must be in \(0, 1\); got 0"),
    ("--test-fraction", "1", r"must be in \(0, 1\); got 1"),
    ("--test-fraction", "-0.2", r"must be in \(0, 1\)"),
    ("--test-fraction", "nan", r"must be in \(0, 1\)"),
    ("--seed", "-1", r"argument --seed: must be in \[0, 4294967295\]; got -1"),
    ("--seed", str(2**32), r"must be in \[0, 4294967295\]; got 4294967296"),
    ("--seed", "1.5", "invalid int value: '1.5'"),
    ("--kind", "level", "argument --kind: invalid choice: 'level'"),
    # The model options are bounded here, before the job reads any file.
    ("--n-qubits", "13", r"argument --n-qubits: must be in \[1, 12\]; got 13"),
    ("--n-qubits", "0", r"argument --n-qubits: must be in \[1, 12\]; got 0"),
    ("--n-qubits", "30", r"argument --n-qubits: must be in \[1, 12\]; got 30"),
    ("--n-qubits", "2.5", "argument --n-qubits: invalid int value: '2.5'"),
    ("--n-layers", "0", r"argument --n-layers: must be in \[1, 20\]; got 0"),
    ("--n-layers", "21", r"argument --n-layers: must be in \[1, 20\]; got 21"),
    ("--max-epochs", "0", r"argument --max-epochs: must be in \[1, 100000\]; got 0"),
    ("--max-epochs", "100001", r"argument --max-epochs: must be in \[1, 100000\]; got 100001"),
    ("--max-epochs", "-5", r"argument --max-epochs: must be in \[1, 100000\]; got -5"),
    ("--walk-forward", "0", r"argument --walk-forward: must be in \[1, 100000\]; got 0"),
    ("--walk-forward", "100001", r"must be in \[1, 100000\]; got 100001"),
    ("--walk-forward", "20.5", "argument --walk-forward: invalid int value: '20.5'"),
])
def test_options_out_of_range_are_one_line_parser_errors(capsys, option, value, message):
    assert_parser_refuses(capsys, [option, value], message)


def test_model_options_are_refused_before_the_csv_is_read(capsys):
    # the file does not exist: the parser stops first
    assert_parser_refuses(capsys, ["--csv", "missing.csv", "--column", "x", "--n-qubits", "13"],
                          r"--n-qubits: must be in \[1, 12\]")


def test_options_at_their_limits_are_accepted():
    assert parse(["--seed", str(2**32 - 1)]).seed == 2**32 - 1
    assert parse(["--test-fraction", "0.999"]).test_fraction == 0.999
    low = parse(["--n-qubits", "1", "--n-layers", "1", "--max-epochs", "1"])
    assert (low.n_qubits, low.n_layers, low.max_epochs) == (1, 1, 1)
    high = parse(["--n-qubits", "12", "--n-layers", "20", "--max-epochs", "100000"])
    assert (high.n_qubits, high.n_layers, high.max_epochs) == (12, 20, 100_000)
    assert parse([]).walk_forward is None  # one fit by default
    assert [parse(["--walk-forward", k]).walk_forward for k in ("1", "100000")] == [1, 100_000]


def test_test_fraction_holding_out_too_few_rows(tmp_path, capsys):
    rows, _ = price_rows(300)
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--test-fraction", "0.001",
                            "--no-plot"],
                   "--test-fraction 0.001 holds out 0 rows of the 277 rows of features, too "
                   "few")
    # A fraction given was silently lowered to leave a full historical-simulation window
    # (the default still is).
    assert_refused(capsys, ["--csv", path, "--column", "close", "--test-fraction", "0.5",
                            "--no-plot"],
                   r"--test-fraction 0.5 is too large: historical simulation needs 250 "
                   r"earlier returns, so at most 49 rows of the 277 rows of features can be "
                   r"held out \(--test-fraction 0.1769 or less\)")


@pytest.mark.parametrize("argv", [
    ["--test-start", "2015-01-01", "--test-fraction", "0.3"],
    ["--test-fraction", "0.3", "--test-start", "2015-01-01"],
])
def test_test_start_and_test_fraction_exclude_each_other(capsys, argv):
    # The date won and the fraction was ignored, silently.
    assert_parser_refuses(capsys, argv, "not allowed with argument --test-")


def test_test_start_with_no_dates_says_so(tmp_path, capsys):
    # It advised --date-column to a user who had asked for no dates.
    path = write_csv(tmp_path / "p.csv", price_rows(300)[0])
    assert_refused(capsys, ["--csv", path, "--column", "close", "--no-dates", "--test-start",
                            "2020-10-01"], "--test-start needs dates, and --no-dates reads "
                                           "none: pass --test-fraction instead")


def test_a_test_fraction_given_is_used_for_the_sp500_too():
    # The S&P 500's default --test-start won over a --test-fraction given, silently.
    assert _first_test_row(None, 1000, 228, None, parse(["--test-fraction", "0.3"])) == 700
    assert _first_test_row(None, 1000, 228, None, parse(["--csv", "x.csv", "--column", "c",
                                                         "--test-fraction", "0.3"])) == 700
    # the default fraction of a short file still leaves the window
    assert _first_test_row(None, 250, 228, None, parse(["--csv", "x.csv", "--column", "c"])) \
        == 228


@pytest.mark.parametrize("plot, message", [
    ("missing/var.png", r"--plot .*missing/var.png: the folder .*missing does not exist"),
    ("", r"--plot .* is a folder, not a file name"),
    ("var.pgf", r"must end in the suffix of a format matplotlib writes: .*\.png"),
    ("var", r"must end in the suffix"),
])
def test_plot_path_is_checked_before_the_job(tmp_path, capsys, plot, message):
    pytest.importorskip("matplotlib")
    rows, _ = price_rows(300)
    path = write_csv(tmp_path / "p.csv", rows)
    assert_refused(capsys, ["--csv", path, "--column", "close", "--plot",
                            str(tmp_path / plot)], message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]  # nothing written


def test_plot_suffix_picks_the_format(tmp_path):
    pytest.importorskip("matplotlib")
    assert _plot_target(parse(["--plot", str(tmp_path / "v.SVG")])) == \
        (str(tmp_path / "v.SVG"), None)
    assert _plot_target(parse(["--no-plot"])) == (None, None)


@pytest.mark.parametrize("argv", [["--plot", "v.png", "--no-plot"],
                                  ["--no-plot", "--plot", "v.png"]])
def test_plot_and_no_plot_exclude_each_other(capsys, argv):
    # --no-plot won and the file asked for was not written, silently.
    assert_parser_refuses(capsys, argv, "argument --(no-)?plot: not allowed with argument "
                                        "--(no-)?plot")


def test_missing_matplotlib_is_decided_up_front(tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.backend_bases"):  # their imports fail
        monkeypatch.setitem(sys.modules, name, None)
    assert _plot_target(parse(["--plot", str(tmp_path / "v.png")])) == \
        (None, "Plot skipped: matplotlib is not installed (pip install skqegm[plot]).")
