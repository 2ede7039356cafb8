"""Counting the lines of a text in its bytes, as the CSV readers split them."""


def count_lines(chunks):
    """``(bytes, lines)`` of a text given as chunks of bytes.

    ``\\n``, ``\\r`` and ``\\r\\n`` each end a line, as Python's ``csv`` (with
    ``newline=""``) and pandas read them, also mixed in one file; a last line without an
    ending counts. ``max(count("\\n"), count("\\r"))`` counted a file of lines ending in
    ``\\r`` and in ``\\n`` alike as half its lines.

    Parameters
    ----------
    chunks : iterable of bytes
        The text, in order.

    Returns
    -------
    n_bytes : int
        The bytes of the text.
    n_lines : int
        Its lines.

    Examples
    --------
    >>> from skqegm.datasets._lines import count_lines
    >>> count_lines([b"a\\rb\\nc\\r", b"\\nd"])
    (8, 4)
    """
    n_bytes = n_ends = 0
    last = b""
    for chunk in chunks:
        n_ends += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if last.endswith(b"\r") and chunk.startswith(b"\n"):  # one \r\n, split
            n_ends -= 1
        n_bytes, last = n_bytes + len(chunk), chunk
    return n_bytes, n_ends + (last != b"" and not last.endswith((b"\n", b"\r")))
