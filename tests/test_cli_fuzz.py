"""Fuzzing the CLI's input reading: generated CSV files, good and broken.

The contract of :func:`skqegm.datasets.load_csv_series`, which ``main`` runs before fitting
anything: either a ``ValueError`` with a one-line message (naming the line of the broken
row, when one row is to blame), or the series as written, oldest first, of the kind
expected, with returns computed from prices in time order. ``main`` itself must answer
every bad input with exit code 2, one line on standard error and nothing on standard
output.
"""

import contextlib
import csv
import io
import re
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

from skqegm.cli import main
from skqegm.datasets import load_csv_series
from skqegm.datasets.csv_series import parse_date

FUZZ = settings(max_examples=500, deadline=None, derandomize=True)
END_TO_END = settings(max_examples=60, deadline=None, derandomize=True)

DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S")
BAD_NUMBERS = ("abc", "1.2.3", "--1", "1_000", "12%", "1e", "0x10")
NON_FINITE = ("nan", "inf", "-inf", "NaN", "Infinity")
BAD_DATES = ("2020/01/05", "2020-02-30", "", "05.01.2020", "yesterday", "2020-01-05 25:00",
             "2020-01-05 10:00:60", "2020-０１-05", "0000-01-05")


@dataclass
class Case:
    """A generated CSV file and what reading it must give."""

    text: str
    encoding: str
    argv: list
    kind_option: str  # the kind passed: "auto", "prices" or "returns"
    values: np.ndarray  # the column as written, oldest first
    dates: "np.ndarray | None"  # as datetime64[s], oldest first
    kind: "str | None"  # the kind expected; None: must be refused; "prices?": or refused
    refused_on: "int | None" = None  # the line the error must name
    refused: bool = False  # must be refused, on a line not checked
    notes: list = field(default_factory=list)  # notes expected among the series' notes


def auto_kind(values):
    """The documented rule of ``--kind auto``, on the column as read."""
    v = np.asarray(values)
    if len(v) == 0:
        return None
    pairs = (v[1:] > 0) & (v[:-1] > 0)
    moves = np.abs(np.log(v[1:][pairs] / v[:-1][pairs]))
    persistent = len(moves) > 0 and np.median(moves) <= 0.5
    positive, negative = np.mean(v > 0), np.mean(v < 0)
    if positive == 1:
        return "prices" if persistent or len(moves) == 0 else None
    if positive > 0.5 and persistent:
        return None
    median = np.median(v)
    centred = abs(median) <= np.median(np.abs(v - median))
    return "returns" if min(positive, negative) >= 0.1 and centred else None


@st.composite
def cases(draw, min_rows=0, max_rows=30):
    n = draw(st.integers(min_rows, max_rows))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    generated = draw(st.sampled_from(["prices", "returns"]))
    if generated == "prices":
        values = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    else:
        values = rng.normal(0, 0.01, n)
    values = np.array([float(repr(float(v))) for v in values])

    columns = draw(st.sampled_from([("close",), ("date", "close"), ("Date", "close", "volume"),
                                    ("volume", "close"), ("close", "date")]))
    has_dates = "date" in [c.lower() for c in columns]
    fmt = draw(st.sampled_from(DATE_FORMATS))
    unit = {"%Y-%m-%d": "D", "%Y-%m-%d %H:%M": "m", "%Y-%m-%dT%H:%M:%S": "s"}[fmt]
    stamps = np.datetime64("2020-01-01", unit) + np.arange(n) * draw(st.integers(1, 3))
    texts = [_format(stamp, fmt) for stamp in stamps]

    # The file's order of the rows, oldest first unless drawn otherwise.
    order = np.arange(n)
    how = draw(st.sampled_from(["ascending", "descending", "shuffled", "duplicate"])) \
        if has_dates else "ascending"
    if how == "descending":
        order = order[::-1]
    elif how == "shuffled":
        order = np.array(draw(st.permutations(list(range(n)))), dtype=int)
    elif how == "duplicate" and n >= 2:
        j = draw(st.integers(1, n - 1))
        texts[j] = texts[j - 1]
    file_texts = [texts[i] for i in order]
    file_values = [repr(float(values[i])) for i in order]

    sep = draw(st.sampled_from([",", ";", "\t"]))
    # In a one-column file nothing tells a decimal comma from a separator: such files are
    # refused (tests/test_cli.py), not generated here.
    decimal_comma = sep != "," and len(columns) > 1 and draw(st.booleans())
    header = [draw(st.sampled_from([name, f" {name} ", f'"{name}"', f"'{name}'"]))
              for name in columns]
    rows = [[{"close": value, "volume": "1000"}.get(name.lower(), date) for name in columns]
            for date, value in zip(file_texts, file_values)]
    value_col = columns.index("close")
    date_col = next((i for i, name in enumerate(columns) if name.lower() == "date"), None)

    # At most one broken row; must_fail: (row, reason) when the broken row must be refused.
    defect = draw(st.sampled_from(["none", "missing cell", "ragged", "non-numeric",
                                   "non-finite", "bad date", "non-positive"]))
    k = draw(st.integers(0, n - 1)) if n else None
    must_fail = None
    if k is not None and defect == "missing cell" and len(columns) > 1:
        rows[k][value_col], must_fail = "", k
    elif k is not None and defect == "ragged" and len(columns) > 1:
        rows[k], must_fail = rows[k][:-1], k
    elif k is not None and defect == "non-numeric":
        rows[k][value_col], must_fail = draw(st.sampled_from(BAD_NUMBERS)), k
    elif k is not None and defect == "non-finite":
        rows[k][value_col], must_fail = draw(st.sampled_from(NON_FINITE)), k
    elif k is not None and defect == "bad date" and date_col is not None:
        rows[k][date_col], must_fail = draw(st.sampled_from(BAD_DATES)), k
    elif k is not None and defect == "non-positive":
        rows[k][value_col] = draw(st.sampled_from(["0", "-1.5", "-999.0", "0.0"]))
    if decimal_comma:
        for row in rows:
            if len(row) > value_col:
                row[value_col] = row[value_col].replace(".", ",")

    # Blank rows anywhere after the header are skipped, but count in line numbers.
    blanks = sorted(draw(st.lists(st.integers(0, n), max_size=2)))
    lines, out, written = {}, [header], 0
    for i, row in enumerate(rows):
        while written < len(blanks) and blanks[written] <= i:
            out.append([])
            written += 1
        out.append(row)
        lines[i] = len(out)  # 1-based: the header is line 1
    out += [[]] * (len(blanks) - written)
    buffer = io.StringIO()
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    csv.writer(buffer, delimiter=sep, lineterminator=newline).writerows(out)

    kind_option = draw(st.sampled_from(["auto", "prices", "returns"]))
    case = Case(buffer.getvalue(), draw(st.sampled_from(["utf-8", "utf-8-sig"])),
                ["--column", "close", "--kind", kind_option], kind_option, None, None, None)
    if must_fail is not None:
        case.refused_on = lines[must_fail]
        case.refused = True
        return case
    if n == 0:
        case.refused = True
        return case
    written_values = np.array([_read_number(row[value_col]) for row in rows])
    # The file's rows back in time order.
    back = np.argsort(order) if how in ("descending", "shuffled") else np.arange(n)
    case.values = written_values[back]
    if has_dates:
        in_file = np.array([t.replace(" ", "T") for t in file_texts], dtype="datetime64[s]")
        steps = np.diff(in_file)
        if not (np.all(steps > np.timedelta64(0)) or np.all(steps < np.timedelta64(0))):
            case.refused = True  # shuffled or repeated dates
            return case
        if n >= 2 and steps[0] < np.timedelta64(0):
            case.notes.append("dates are newest first; reversed to oldest first")
        case.dates = np.sort(in_file)
    if kind_option == "auto":
        case.kind = auto_kind(case.values)
        if case.kind == "prices" and generated == "returns":
            case.kind = "prices?"  # a few positive returns can pass for steady prices
    elif kind_option == "prices" and np.any(case.values <= 0):
        line = min(lines[i] for i in range(n) if written_values[i] <= 0)
        case.refused_on = line
        case.kind = None
    else:
        case.kind = kind_option
    case.refused = case.kind is None
    return case


def _format(stamp, fmt):
    text = str(stamp.astype("datetime64[s]"))  # YYYY-MM-DDTHH:MM:SS
    return {"%Y-%m-%d": text[:10], "%Y-%m-%d %H:%M": f"{text[:10]} {text[11:16]}",
            "%Y-%m-%dT%H:%M:%S": text}[fmt]


def _read_number(cell):
    return float(cell.replace(",", "."))


def check_one_line(error):
    message = str(error)
    assert message and "\n" not in message, message
    return message


def check_series(series, case):
    """The series is the column as written, oldest first, of the expected kind."""
    np.testing.assert_array_equal(series.values, case.values)
    if case.dates is None:
        assert series.dates is None
    else:
        np.testing.assert_array_equal(series.dates.astype("datetime64[s]"), case.dates)
    if series.kind == "prices":
        np.testing.assert_allclose(series.returns, np.diff(np.log(case.values)), rtol=1e-12)
        if case.dates is not None:
            np.testing.assert_array_equal(series.return_dates, series.dates[1:])
    else:
        np.testing.assert_array_equal(series.returns, case.values)
    for note in case.notes:
        assert note in series.notes


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


def write(folder, case):
    path = folder / "data.csv"
    path.write_bytes(case.text.encode(case.encoding))
    return str(path)


@FUZZ
@given(case=cases())
def test_load_csv_series_reads_or_refuses_in_one_line(folder, case):
    try:
        series = load_csv_series(write(folder, case), "close", kind=case.kind_option)
    except ValueError as error:
        message = check_one_line(error)
        event("refused: " + re.sub(r"\S*data\.csv|'[^']*'|\d+", "_", message)[:60])
        assert case.refused or case.kind == "prices?", f"refused a good file: {message}"
        if case.refused_on is not None:
            assert re.search(rf"\bline {case.refused_on}\b", message), message
        return
    assert not case.refused, f"accepted a bad file:\n{case.text}"
    event(f"read as {series.kind}{', reversed' if case.notes else ''}")
    if case.kind == "prices?":
        assert series.kind == "prices"
    else:
        assert series.kind == case.kind
    check_series(series, case)


def assert_refused_quietly(argv):
    """Exit 2, one line on standard error, nothing on standard output: no fit started."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    out, err = out.getvalue(), err.getvalue()
    assert code == 2
    assert out == "" and err.startswith("skqegm: error: ") and err.count("\n") == 1, (out, err)
    return err


@END_TO_END
@given(case=cases(max_rows=40))
def test_main_refuses_short_or_broken_files_quietly(folder, case):
    # At most 40 rows: too short for the backtest even when well formed.
    err = assert_refused_quietly(["--csv", write(folder, case), *case.argv, "--no-plot"])
    if case.refused_on is not None:
        assert re.search(rf"\bline {case.refused_on}\b", err), err


@END_TO_END
@given(case=cases(min_rows=300, max_rows=320))
def test_main_refuses_a_broken_long_file_before_fitting(folder, case):
    # Long enough to fit: each bad file must be stopped before the first fit and print.
    assume(case.refused)
    err = assert_refused_quietly(["--csv", write(folder, case), *case.argv, "--no-plot"])
    if case.refused_on is not None:
        assert re.search(rf"\bline {case.refused_on}\b", err), err


@pytest.mark.parametrize("text", BAD_DATES)
def test_parse_date_refuses_each_bad_date(text):
    assert parse_date(text) is None
