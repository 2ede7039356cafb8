"""The main job: ``python -m skqegm`` on the shipped S&P 500 data and on a user's CSV."""

import subprocess
import sys

import numpy as np
import pytest

from skqegm.baselines import historical_simulation
from skqegm.cli import _read_csv_column, main

FAST = ["--max-epochs", "2", "--n-qubits", "2", "--n-layers", "1"]


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
                  "Kupiec p 97.5%", "Christoffersen p 99%", "tail KL", "rare-event recall",
                  "90% interval coverage", "QEGM (quantum)", "twin (Gaussian)", "HS 250 days"):
        assert label in out, label
    assert "[1/3] fitting QEGM (quantum) ... done in" in out


def test_csv_of_prices_with_a_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    csv_path, png = tmp_path / "prices.csv", tmp_path / "var.png"
    write_prices(csv_path)
    assert main(FAST + ["--csv", str(csv_path), "--column", "close", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "close of" in out and "(prices)" in out
    # 899 returns, 877 feature rows; the last 20% are held out.
    assert "fit on 702 days (2020-01-24 to 2021-12-25), test on 175 days" in out
    assert png.stat().st_size > 10_000 and png.read_bytes()[:4] == b"\x89PNG"


def test_csv_of_returns_without_dates(tmp_path, capsys):
    path = tmp_path / "returns.csv"
    r = 0.01 * np.random.default_rng(1).standard_t(4, 700)
    np.savetxt(path, r, header="ret", comments="", fmt="%.10f")
    assert main(FAST + ["--csv", str(path), "--column", "ret", "--no-plot",
                        "--test-fraction", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "(returns)" in out and "fit on 475 days, test on 203 days" in out


def test__read_csv_column(tmp_path):
    path = tmp_path / "p.csv"
    prices = write_prices(path, n=30, date_column="date")
    values, dates = _read_csv_column(path, "close")
    np.testing.assert_array_equal(values, prices)
    assert dates[0] == np.datetime64("2020-01-01") and len(dates) == 30
    assert _read_csv_column(path, "volume", date_column="date")[0].sum() == 30_000


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
        (["--test-start", "2015-13-01"], "--test-start must be a date"),
        (["--csv", "{short}", "--column", "close"], "too few|need more"),
        (["--n-qubits", "30"], "n_qubits must be <= 20 on the exact backend"),
    ],
)
def test_bad_input_gives_one_line(tmp_path, capsys, args, message):
    bad, short = tmp_path / "bad.csv", tmp_path / "short.csv"
    bad.write_text("date,close\n2020-01-01,100\n2020-01-02,abc\n")
    write_prices(short, n=40)
    args = [a.format(bad=bad, short=short) for a in args]
    assert main(args + ["--no-plot"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("skqegm: error: ") and err.count("\n") == 1
    assert "Traceback" not in err
    import re

    assert re.search(message, err), err


def test_options_out_of_range_are_refused_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--n-qubits", "0"])
    assert exit_info.value.code == 2
    assert "argument --n-qubits: must be >= 1; got 0" in capsys.readouterr().err


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
