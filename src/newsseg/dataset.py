"""Read dumps, labeled dumps and tables into one paragraph frame; write outputs atomically.

Every reader returns a :class:`pandas.DataFrame` with one row per paragraph, in page order:

``doc_id``  the document (file stem, or the table's ``doc_id``)
``text``    the paragraph
``label``   its label, or ``None`` for unlabeled input
``source``  the file it came from (``-`` for standard input)
``line``    its line in that file (1-based; for CSV the header is line 1)
``site``    the group used for grouped splits (see :func:`site_of`)
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from newsseg.config import (
    DUMP_SUFFIXES,
    LABELED_SUFFIXES,
    LABELS,
    MANIFEST_NAME,
    STDIN_PATH,
    TABLE_SUFFIXES,
    document_site,
)
from newsseg.errors import InputError, OutputError
from newsseg.runs import run_slices

COLUMNS = ["doc_id", "text", "label", "source", "line", "site"]
TABLE_COLUMNS = ("doc_id", "text")
PUBLIC_FILE_MODE = 0o644
"""Outputs are readable by all, as files written with a usual umask (mkstemp makes 0600)."""
BINARY_SNIFF_BYTES = 8192
"""A NUL byte in this many leading bytes marks a binary file, not a text dump."""
NEW_LABELS_HINT = "declare new labels with labels=L1,L2,..."
"""How a label outside the label set is made welcome when training."""


# --------------------------------------------------------------------------- finding files


def expand_paths(paths: Iterable[str | Path], suffixes: Sequence[str]) -> list[str | Path]:
    """Files named by ``paths``: files as given, directories searched recursively for
    ``suffixes``, ``-`` kept for standard input. Missing paths are an error, and so is an
    entry of a folder that cannot be read (see :func:`expand_path`)."""
    files: list[str | Path] = []
    for raw in paths:
        for item in expand_path(raw, suffixes):
            if isinstance(item, InputError):
                raise item
            files.append(item)
    return files


def expand_path(raw: str | Path, suffixes: Sequence[str]) -> list[str | Path | InputError]:
    """The files named by one path (see :func:`expand_paths`), in order. Inside a folder, an
    entry named like an input that is no readable file (a broken symbolic link, a FIFO, a
    socket) is given as its :class:`InputError`, in its place, so that it can be listed as
    a bad input. A path named as such may be any readable file, such as a pipe
    (``<(cat page.txt)``)."""
    if str(raw) == STDIN_PATH:
        return [STDIN_PATH]
    path = Path(raw)
    if path.is_dir():
        found = [_folder_entry(entry) for entry in sorted(_walk(path, suffixes), key=_entry_path)]
        if not found:
            raise InputError(path, f"no {'/'.join('*' + s for s in suffixes)} files in folder")
        return [entry for entry in found if entry is not None]
    if path.exists():  # a file, or a pipe, FIFO or device named on purpose
        return [path]
    if path.is_symlink():
        raise InputError(path, f"broken symbolic link (to {os.readlink(path)}, which is missing)")
    raise InputError(path, "no such file or folder")


def _walk(folder: Path, suffixes: Sequence[str]) -> Iterator[Path | InputError]:
    """The entries below ``folder`` named like inputs, found without recursion, so that any
    depth of folders works; symbolic links to folders are not followed (they may loop)."""
    stack = [folder]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
                    elif (
                        Path(entry.name).suffix.lower() in suffixes and entry.name != MANIFEST_NAME
                    ):
                        yield Path(entry.path)
        except OSError as error:
            yield InputError(current, f"cannot read folder: {error.strerror or error}")


def _entry_path(entry: Path | InputError) -> Path:
    return Path(entry.path) if isinstance(entry, InputError) else entry


def _folder_entry(entry: Path | InputError) -> Path | InputError | None:
    """An entry found in a folder: a file, the error of one that cannot be read, or None
    for a link to a folder."""
    if isinstance(entry, InputError) or entry.is_file():
        return entry
    if entry.is_dir():
        return None
    if entry.is_symlink() and not entry.exists():
        return InputError(
            entry, f"broken symbolic link (to {os.readlink(entry)}, which is missing)"
        )
    return InputError(entry, "not a regular file (a FIFO, socket or device); skipped")


def read_path_list(path: str | Path, encoding: str = "utf-8") -> list[str]:
    """The paths listed in a file (or stdin), one a line; blank lines are skipped and the
    rest of a line is kept as it is (a file name may start or end with spaces)."""
    return [line for _, line in _lines(read_text(path, encoding)) if line.strip()]


# --------------------------------------------------------------------------- decoding


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole text of a file (or stdin), decoded strictly; BOM and CRLF tolerated."""
    data = sys.stdin.buffer.read() if str(path) == STDIN_PATH else _read_bytes(path)
    return decode(data, path, encoding)


def _read_bytes(path: str | Path) -> bytes:
    with _input_errors(path):
        return Path(path).read_bytes()


@contextmanager
def _input_errors(path: str | Path) -> Iterator[None]:
    """Turn the ``OSError`` of reading ``path`` into an :class:`InputError`."""
    try:
        yield
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a file") from None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror}") from None


def decode(data: bytes, path: str | Path, encoding: str = "utf-8") -> str:
    """Decode ``data`` read from ``path``; errors name the file and line."""
    _refuse_binary(data, path, encoding)
    codec = _codec(encoding)
    try:
        text = data.decode(codec)
    except LookupError:
        raise InputError(path, f"unknown encoding {encoding!r}") from None
    except UnicodeError as error:
        raise _decode_error(error, path, encoding, 0) from None
    return text.lstrip("\ufeff")


def _codec(encoding: str) -> str:
    """The codec for ``encoding``: UTF-8 also drops a leading BOM."""
    return "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding


def _text_codec(path: str | Path, encoding: str) -> str:
    """The codec for ``encoding`` (see :func:`_codec`); an encoding Python does not know,
    or a codec that makes no text of bytes (``rot13``, ``base64``), is an error."""
    codec = _codec(encoding)
    try:
        info = codecs.lookup(codec)
    except LookupError:
        raise InputError(path, f"unknown encoding {encoding!r}") from None
    if not getattr(info, "_is_text_encoding", True):  # how bytes.decode tells them apart
        raise InputError(path, f"unknown encoding {encoding!r} (not a text encoding)")
    return codec


def _refuse_binary(data: bytes, path: str | Path, encoding: str) -> None:
    """Refuse a NUL byte in the first bytes of a file, the mark of binary data."""
    nul = data.find(b"\x00", 0, BINARY_SNIFF_BYTES)
    wide = encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))
    if nul >= 0 and not wide:  # UTF-16 and UTF-32 text is full of NUL bytes
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(
            path,
            "binary data (NUL byte), not a text file (UTF-16 text needs encoding=utf-16)",
            line,
        )


def _decode_error(
    error: UnicodeError, path: str | Path, encoding: str, lines_before: int
) -> InputError:
    """The located error for a decoding failure; ``lines_before`` counts the line feeds
    of the bytes decoded before ``error.object``."""
    if not isinstance(error, UnicodeDecodeError):  # codecs such as idna give no position
        reason = f"cannot decode as {encoding} ({error}); give the right encoding=NAME"
        return InputError(path, reason)
    line = lines_before + error.object.count(b"\n", 0, error.start) + 1
    bad = error.object[error.start : error.start + 1].hex()
    return InputError(
        path, f"cannot decode byte 0x{bad} as {encoding}; give the right encoding=NAME", line
    )


READ_BLOCK_BYTES = 1 << 20
"""Streaming readers decode a file this many bytes at a time."""


def _decoded_blocks(path: str | Path, encoding: str = "utf-8") -> Iterator[str]:
    """The text of a file, decoded strictly block by block (memory stays bounded by a
    block); errors are those of :func:`read_text`, located by line."""
    decoder = codecs.getincrementaldecoder(_text_codec(path, encoding))(errors="strict")
    at_start = True  # leading BOMs are dropped, as read_text does
    lines_before = 0
    with _input_errors(path), open(path, "rb") as stream:
        while True:
            with _input_errors(path):
                block = stream.read(READ_BLOCK_BYTES)
            if at_start:
                _refuse_binary(block, path, encoding)
            try:
                text = decoder.decode(block, final=not block)
            except UnicodeError as error:
                raise _decode_error(error, path, encoding, lines_before) from None
            lines_before += block.count(b"\n")
            if at_start:
                text = text.lstrip("\ufeff")
                at_start = not text and bool(block)
            if text:
                yield text
            if not block:
                return


def iter_lines(path: str | Path, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """Numbered lines of a file read block by block; the same lines as ``read_text`` split
    by :func:`_lines`, without holding the whole file."""
    number, pending = 1, ""
    for block in _decoded_blocks(path, encoding):
        pieces = (pending + block).split("\n")
        pending = pieces.pop()
        for piece in pieces:
            yield number, piece.removesuffix("\r")
            number += 1
    yield number, pending.removesuffix("\r")


def _lines(text: str) -> Iterator[tuple[int, str]]:
    """Numbered lines of a text, LF and CRLF endings removed.

    Only LF ends a line, so line numbers are those an editor shows: other characters
    ``str.splitlines`` breaks at (U+2028, form feed, a lone CR, ...) stay in the paragraph.
    """
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.removesuffix("\r")


# --------------------------------------------------------------------------- readers


def read_dump(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """An unlabeled dump: one paragraph a line, blank lines skipped."""
    texts, numbers = _dump_rows(path, encoding)
    return _frame(path, texts, [None] * len(texts), numbers)


_INVISIBLE_ONLY = re.compile(
    r"[\s\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f"
    r"\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]*"
)
"""Whitespace and characters that show nothing (zero-width spaces and joiners, direction
marks, soft hyphens, variation selectors, fillers): a line of only these is blank."""


def paragraph_text(line: str) -> str:
    """A line as a paragraph: stripped, or empty when nothing in it is visible."""
    text = line.strip()
    return "" if _INVISIBLE_ONLY.fullmatch(text) else text


def split_dump(text: str) -> list[str]:
    """The paragraphs of a dump's text: its lines, stripped, blank ones skipped."""
    paragraphs = (paragraph_text(line) for _, line in _lines(text))
    return [paragraph for paragraph in paragraphs if paragraph]


def _dump_rows(path: str | Path, encoding: str) -> tuple[list[str], list[int]]:
    texts, numbers = [], []
    for number, line in _lines(read_text(path, encoding)):
        text = paragraph_text(line)
        if text:
            texts.append(text)
            numbers.append(number)
    return texts, numbers


def read_labeled_dump(
    path: str | Path,
    labels: Sequence[str] = LABELS,
    encoding: str = "utf-8",
    require_labels: bool = True,
    label_hint: str = NEW_LABELS_HINT,
) -> pd.DataFrame:
    """A labeled dump: ``label<TAB>text`` a line. With ``require_labels=False`` the label is
    read when present and checked, and a line without a tab is taken as text alone.
    ``label_hint`` ends the message about a label outside ``labels``."""
    return _frame(path, *_labeled_rows(path, labels, encoding, require_labels, label_hint))


def _labeled_rows(
    path: str | Path,
    labels: Sequence[str],
    encoding: str,
    require_labels: bool,
    label_hint: str,
) -> tuple[list[str], list[str | None], list[int]]:
    texts, found_labels, numbers = [], [], []
    for number, line in _lines(read_text(path, encoding)):
        if not paragraph_text(line):
            continue
        label, tab, text = line.partition("\t")
        if not tab:
            if require_labels:
                raise InputError(path, "no tab: expected 'label<TAB>text'", number)
            label, text = "", line
        label = label.strip()
        if label and label not in labels:
            raise InputError(path, _unknown_label(label, labels, label_hint), number)
        if require_labels and not label:
            raise InputError(path, "empty label", number)
        text = paragraph_text(text)
        if not text:
            continue
        texts.append(text)
        found_labels.append(label or None)
        numbers.append(number)
    return texts, found_labels, numbers


def _unknown_label(label: str, labels: Sequence[str], hint: str) -> str:
    return f"label {label!r} is not one of {', '.join(labels)} ({hint})"


TABLE_CHUNK_ROWS = 10_000
"""Tables are read this many rows at a time (see :func:`iter_table`)."""


def read_table(
    path: str | Path,
    labels: Sequence[str] = LABELS,
    require_labels: bool = True,
    encoding: str = "utf-8",
    label_hint: str = NEW_LABELS_HINT,
) -> pd.DataFrame:
    """A CSV, JSONL or Parquet table with ``doc_id``, ``text`` and (optional) ``label``."""
    chunks = list(iter_table(path, labels, require_labels, encoding, label_hint))
    if not chunks:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(chunks, ignore_index=True)


def iter_table(
    path: str | Path,
    labels: Sequence[str] = LABELS,
    require_labels: bool = True,
    encoding: str = "utf-8",
    label_hint: str = NEW_LABELS_HINT,
    chunk_rows: int | None = None,
) -> Iterator[pd.DataFrame]:
    """The paragraphs of a table as frames of about ``chunk_rows`` rows, each holding whole
    documents: memory stays bounded by a chunk and the largest document, whatever the size
    of the table. A document's rows are consecutive; the last document of a chunk is carried
    into the next. The columns are checked on the first chunk (for JSONL, its records).
    ``chunk_rows`` defaults to :data:`TABLE_CHUNK_ROWS`."""
    chunk_rows = chunk_rows or TABLE_CHUNK_ROWS
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        raw = _csv_chunks(path, encoding, chunk_rows)
    elif suffix == ".jsonl":
        raw = _jsonl_chunks(path, encoding, chunk_rows)
    elif suffix == ".parquet":
        raw = _parquet_chunks(path, chunk_rows, encoding)
    else:
        raise InputError(path, f"unknown table kind {suffix!r}")
    carry: pd.DataFrame | None = None
    for position, (table, lines) in enumerate(raw):
        if position == 0:
            _check_columns(path, table, require_labels)
        frame = _table_frame(path, table, lines, labels, require_labels, label_hint)
        if carry is not None:
            frame = pd.concat([carry, frame], ignore_index=True)
        frame, carry = _split_last_document(frame)
        if len(frame):
            yield frame
    if carry is not None and len(carry):
        yield carry


def _check_columns(path: str | Path, table: pd.DataFrame, require_labels: bool) -> None:
    missing = [column for column in TABLE_COLUMNS if column not in table.columns]
    if require_labels and "label" not in table.columns:
        missing.append("label")
    if missing:
        raise InputError(path, f"missing column(s): {', '.join(missing)}")


def _table_frame(
    path: str | Path,
    table: pd.DataFrame,
    lines: Sequence[int],
    labels: Sequence[str],
    require_labels: bool,
    label_hint: str,
) -> pd.DataFrame:
    """A chunk of a table as paragraph rows; ``lines`` holds the line of each of its rows."""
    table = table.reset_index(drop=True)

    def column(name: str) -> pd.Series:  # a column a later JSONL chunk may lack is empty
        return table[name].map(_cell_text) if name in table.columns else pd.Series("", table.index)

    table["line"] = np.asarray(lines, dtype=int)
    table["text"] = column("text")
    table = table[table["text"].map(paragraph_text) != ""]
    label_column = column("label")
    for line, label in zip(table["line"], label_column, strict=True):
        if label and label not in labels:
            raise InputError(path, _unknown_label(label, labels, label_hint), int(line))
        if require_labels and not label:
            raise InputError(path, "empty label", int(line))
    frame = pd.DataFrame(
        {
            "doc_id": column("doc_id"),
            "text": table["text"],
            "label": [label or None for label in label_column],
            "source": str(path),
            "line": table["line"].astype(int),
        }
    )
    if "site" in table.columns:
        frame["site"] = column("site")
    else:
        frame["site"] = frame["doc_id"].map(document_site)
    return frame.reset_index(drop=True)[COLUMNS]


def _split_last_document(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``frame`` without the rows of its last document, and those rows."""
    if frame.empty:
        return frame, None
    doc_ids = frame["doc_id"].to_numpy()
    others = np.flatnonzero(doc_ids != doc_ids[-1])
    start = int(others[-1]) + 1 if len(others) else 0
    return frame.iloc[:start], frame.iloc[start:].reset_index(drop=True)


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return " ".join(str(value).split())


def _csv_chunks(
    path: str | Path, encoding: str, chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, list[int]]]:
    """A CSV file's rows in chunks, read as it is parsed, with the line each row starts on
    (the header is line 1). A row with more or fewer fields than the header is an error:
    pandas would silently take the first column as the index, or fill the gaps."""
    csv.field_size_limit(sys.maxsize)  # a paragraph may be megabytes long
    reader = csv.reader(_text_lines(path, encoding), strict=True)
    try:
        header = next(reader, None)
        while header is not None and not header:  # blank lines before the header
            header = next(reader, None)
        if header is None:
            raise InputError(path, "empty table")
        duplicates = sorted({name for name in header if header.count(name) > 1})
        if duplicates:
            raise InputError(path, f"column(s) named twice: {', '.join(duplicates)}", 1)
    except csv.Error as error:
        raise InputError(path, f"not a valid CSV table ({error})", reader.line_num) from None
    rows: list[list[str]] = []
    numbers: list[int] = []
    chunks = 0
    start = reader.line_num + 1
    try:
        for row in reader:
            if row:  # blank lines are skipped
                if len(row) != len(header):
                    raise InputError(
                        path, f"{len(row)} field(s), but the header has {len(header)}", start
                    )
                rows.append(row)
                numbers.append(start)
                if len(rows) >= chunk_rows:
                    yield pd.DataFrame(rows, columns=header, dtype=object), numbers
                    rows, numbers, chunks = [], [], chunks + 1
            start = reader.line_num + 1
    except (InputError, csv.Error) as error:
        if not isinstance(error, InputError):
            error = InputError(path, f"not a valid CSV table ({error})", reader.line_num)
        if rows:  # the rows before the bad one are still read: their documents are written
            yield pd.DataFrame(rows, columns=header, dtype=object), numbers
        raise error from None
    if rows or not chunks:  # a header alone is a table without rows
        yield pd.DataFrame(rows, columns=header, dtype=object), numbers


def _text_lines(path: str | Path, encoding: str) -> Iterator[str]:
    """The lines of a file with their line ends, decoded block by block (for ``csv``)."""
    pending = ""
    for block in _decoded_blocks(path, encoding):
        pieces = (pending + block).split("\n")
        pending = pieces.pop()
        for piece in pieces:
            yield piece + "\n"
    if pending:
        yield pending


def _jsonl_chunks(
    path: str | Path, encoding: str, chunk_rows: int
) -> Iterator[tuple[pd.DataFrame, list[int]]]:
    """A JSONL file's records in chunks, with the line of each (blank lines skipped)."""
    records: list[dict] = []
    numbers: list[int] = []
    chunks = 0
    try:
        for number, line in iter_lines(path, encoding):
            if not line.strip():
                continue
            records.append(_json_record(path, number, line))
            numbers.append(number)
            if len(records) >= chunk_rows:
                yield pd.DataFrame.from_records(records), numbers
                records, numbers, chunks = [], [], chunks + 1
    except InputError:
        if records:  # the records before the bad line are still read: their documents are written
            yield pd.DataFrame.from_records(records), numbers
        raise
    if records or not chunks:  # an empty file is a table without columns
        yield pd.DataFrame.from_records(records), numbers


def _json_record(path: str | Path, number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise InputError(path, f"not a JSON object ({error.msg})", number) from None
    except (ValueError, RecursionError) as error:  # e.g. a 5000-digit integer, deep nesting
        raise InputError(path, f"not a usable JSON object ({_first_line(error)})", number) from None
    if not isinstance(record, dict):
        raise InputError(path, "not a JSON object", number)
    return record


def _parquet_chunks(
    path: str | Path, chunk_rows: int, encoding: str = "utf-8"
) -> Iterator[tuple[pd.DataFrame, range]]:
    """A Parquet file's rows in batches; a column of bytes is decoded with ``encoding``."""
    try:
        import pyarrow  # (checked here so the error can say how to install it)
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            path, "reading Parquet needs pyarrow: pip install 'newsseg[parquet]'"
        ) from None
    offset = 1
    try:
        parquet = pq.ParquetFile(path)
        batches = parquet.iter_batches(batch_size=chunk_rows)
        first = next(batches, None)
        if first is None:  # no rows: still a table with columns
            yield parquet.schema_arrow.empty_table().to_pandas(), range(0)
            return
        for batch in itertools.chain([first], batches):
            lines = range(offset, offset + batch.num_rows)
            yield _decoded_bytes(path, batch.to_pandas(), lines, encoding), lines
            offset += batch.num_rows
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise InputError(path, f"not a valid Parquet file ({_first_line(error)})") from None


def _decoded_bytes(
    path: str | Path, table: pd.DataFrame, lines: Sequence[int], encoding: str
) -> pd.DataFrame:
    """``table`` with its cells of bytes (a Parquet ``binary`` column) decoded as text,
    not taken as their Python repr ``b'...'``; undecodable bytes name their row."""
    for name in table.columns:
        column = table[name]
        if column.dtype != object or not column.map(lambda v: isinstance(v, bytes)).any():
            continue
        codec = _text_codec(path, encoding)
        decoded = []
        for line, value in zip(lines, column, strict=True):
            if isinstance(value, bytes):
                try:
                    value = value.decode(codec)
                except UnicodeError as error:
                    start = getattr(error, "start", 0)
                    bad = value[start : start + 1].hex()
                    raise InputError(
                        path,
                        f"column {name!r}: cannot decode byte 0x{bad} as {encoding}; "
                        "give the right encoding=NAME",
                        line,
                    ) from None
            decoded.append(value)
        table[name] = pd.Series(decoded, index=table.index, dtype=object)
    return table


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _frame(
    path: str | Path, texts: list[str], labels: list[str | None], numbers: list[int]
) -> pd.DataFrame:
    doc_id = _doc_id_of(path)
    return pd.DataFrame(
        {
            "doc_id": doc_id,
            "text": pd.Series(texts, dtype=object),
            "label": pd.Series(labels, dtype=object),
            "source": str(path),
            "line": pd.Series(numbers, dtype=int),
            "site": document_site(doc_id),
        },
        columns=COLUMNS,
    )


def _doc_id_of(path: str | Path) -> str:
    """The document name of a dump: its file stem (``stdin`` for standard input)."""
    return "stdin" if str(path) == STDIN_PATH else Path(path).stem


# --------------------------------------------------------------------------- for prediction


@dataclass
class Paragraphs:
    """Paragraphs of one input, or of a chunk of a table, to predict: plain lists, as a
    DataFrame per small file costs more than reading the file."""

    source: str
    doc_ids: list[str]
    texts: list[str]
    lines: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def iter_paragraphs(
    path: str | Path,
    *,
    labels: Sequence[str] = LABELS,
    encoding: str = "utf-8",
    label_hint: str = NEW_LABELS_HINT,
    chunk_rows: int | None = None,
) -> Iterator[Paragraphs]:
    """The paragraphs of one input to predict (a dump, a labeled dump's text, or a table in
    chunks of whole documents, see :func:`iter_table`); a labeled dump's labels are checked."""
    suffix = "" if str(path) == STDIN_PATH else Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        for frame in iter_table(path, labels, False, encoding, label_hint, chunk_rows):
            yield Paragraphs(
                str(path), frame["doc_id"].tolist(), frame["text"].tolist(), frame["line"].tolist()
            )
        return
    if suffix in LABELED_SUFFIXES:
        texts, _, numbers = _labeled_rows(path, labels, encoding, False, label_hint)
    else:
        texts, numbers = _dump_rows(path, encoding)
    yield Paragraphs(str(path), [_doc_id_of(path)] * len(texts), texts, numbers)


# --------------------------------------------------------------------------- sites


def site_of(path: Path, doc_id: str, cache: dict[tuple[Path, str], dict[str, str]]) -> str:
    """A document's site: from a ``manifest.csv`` beside the file or in a folder above it
    (up to two levels), else the file-name part before ``__``, else the file name."""
    for folder in list(path.resolve().parents)[:3]:
        sites = _manifest_column(folder, "site", cache)
        if sites.get(doc_id):
            return sites[doc_id]
    return document_site(doc_id)


COLLECTION_COLUMN = "collection"
"""Frame column for the manifest's ``source`` column (the corpus a document came from, such as
``scrapinghub``); named apart because a frame's ``source`` is the file a row was read from."""
MANIFEST_COLLECTION = "source"


def _manifest_column(
    folder: Path, column: str, cache: dict[tuple[Path, str], dict[str, str]]
) -> dict[str, str]:
    if (folder, column) not in cache:
        manifest = folder / MANIFEST_NAME
        values: dict[str, str] = {}
        if manifest.is_file():
            try:
                table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
                raise InputError(manifest, "not a valid manifest CSV") from None
            if {"doc_id", column} <= set(table.columns):
                values = dict(zip(table["doc_id"], table[column], strict=True))
        cache[(folder, column)] = values
    return cache[(folder, column)]


def manifest_value(
    path: Path, doc_id: str, column: str, cache: dict[tuple[Path, str], dict[str, str]]
) -> str:
    """``column`` of a document's row in a ``manifest.csv`` beside ``path`` or in a folder
    above it (up to two levels), as :func:`site_of` finds it; empty when none has it."""
    for folder in list(path.resolve().parents)[:3]:
        value = _manifest_column(folder, column, cache).get(doc_id)
        if value:
            return value
    return ""


MANIFEST_TIER = "labels"
"""The manifest column naming a document's label tier (``reviewed`` or ``rules``)."""
TIER_COLUMN = "tier"
"""Frame column for the manifest's :data:`MANIFEST_TIER`."""
SELECTABLE = {"site": "site", "source": COLLECTION_COLUMN, "labels": TIER_COLUMN}
"""What a selection can test, by its name in ``manifest.csv``: the frame column holding it."""


def with_manifest_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a paragraph frame with the manifest's ``source`` (as ``collection``) and
    ``labels`` (as ``tier``) of each document, empty where no manifest names them."""
    cache: dict[tuple[Path, str], dict[str, str]] = {}
    documents = frame[["source", "doc_id"]].drop_duplicates().itertuples(index=False)
    keys = list(documents)
    result = frame.copy()
    for manifest_column, column in (
        (MANIFEST_COLLECTION, COLLECTION_COLUMN),
        (MANIFEST_TIER, TIER_COLUMN),
    ):
        found = {
            (source, doc_id): ""
            if source == STDIN_PATH
            else manifest_value(Path(source), str(doc_id), manifest_column, cache)
            for source, doc_id in keys
        }
        result[column] = [found[key] for key in zip(frame["source"], frame["doc_id"], strict=True)]
    return result


@dataclass(frozen=True)
class Selection:
    """Which documents of a labeled corpus to use, by their manifest columns: ``only`` keeps
    documents whose value is one of the given ones (for every column named), ``exclude``
    drops documents whose value is one of them. Columns: ``site``, ``source``, ``labels``."""

    only: Mapping[str, frozenset[str]]
    exclude: Mapping[str, frozenset[str]]

    @classmethod
    def parse(cls, only: Sequence[str] = (), exclude: Sequence[str] = ()) -> Selection:
        """From ``COLUMN=VALUE[,VALUE...]`` expressions (repeated columns add values)."""
        return cls(_parse_terms(only, "only"), _parse_terms(exclude, "exclude"))

    def __bool__(self) -> bool:
        return bool(self.only or self.exclude)

    def describe(self) -> dict[str, dict[str, list[str]]]:
        """The selection as plain data (for model metadata)."""
        return {
            "only": {key: sorted(values) for key, values in self.only.items()},
            "exclude": {key: sorted(values) for key, values in self.exclude.items()},
        }


NO_SELECTION = Selection({}, {})


def _parse_terms(terms: Sequence[str], parameter: str) -> dict[str, frozenset[str]]:
    parsed: dict[str, set[str]] = {}
    for term in terms:
        column, equals, values = str(term).partition("=")
        column = column.strip()
        chosen = {value.strip() for value in values.split(",") if value.strip()}
        if not equals or not chosen:
            raise ValueError(f"{parameter}: {term!r} is not COLUMN=VALUE[,VALUE...]")
        if column not in SELECTABLE:
            known = ", ".join(SELECTABLE)
            raise ValueError(f"{parameter}: {column!r} is not one of the manifest columns {known}")
        parsed.setdefault(column, set()).update(chosen)
    return {column: frozenset(values) for column, values in parsed.items()}


@dataclass(frozen=True)
class Weighting:
    """Training weights by manifest column and label: each rule gives the paragraphs of the
    documents whose ``column`` is one of ``values`` (and, when ``label`` is set, only those
    labeled so) the weight ``weight``; rules multiply. Written
    ``COLUMN=VALUE[,VALUE...][:LABEL]=WEIGHT``, e.g. ``labels=rules:teaser=0.5``."""

    rules: tuple[tuple[str, frozenset[str], str | None, float], ...] = ()

    @classmethod
    def parse(cls, terms: Sequence[str] = ()) -> Weighting:
        rules = []
        for term in terms:
            chosen, equals, number = str(term).rpartition("=")
            chosen, _, label = chosen.partition(":")
            try:
                weight = float(number)
            except ValueError:
                weight = float("nan")
            if not equals or not np.isfinite(weight) or weight < 0:
                raise ValueError(f"weight: {term!r} is not COLUMN=VALUES[:LABEL]=WEIGHT (>= 0)")
            ((column, values),) = _parse_terms([chosen], "weight").items()
            rules.append((column, values, label.strip() or None, weight))
        return cls(tuple(rules))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def describe(self) -> list[dict]:
        return [
            {"column": column, "values": sorted(values), "label": label, "weight": weight}
            for column, values, label, weight in self.rules
        ]

    def weights(self, frame: pd.DataFrame) -> np.ndarray | None:
        """Each paragraph's weight (a frame with manifest columns), None without rules."""
        if not self.rules:
            return None
        weights = np.ones(len(frame))
        for column, values, label, weight in self.rules:
            chosen = frame[SELECTABLE[column]].astype(str).isin(values).to_numpy().copy()
            if label is not None:
                chosen &= frame["label"].to_numpy() == label
            weights[chosen] *= weight
        return weights


NO_WEIGHTING = Weighting()


def select_documents(frame: pd.DataFrame, selection: Selection, where: str) -> pd.DataFrame:
    """The rows of the documents ``selection`` keeps of a frame read by
    :func:`read_documents`; an :class:`InputError` naming ``where`` (the inputs) when a
    column is named that no manifest gives, or when no document is left."""
    if not selection:
        return frame
    keep = np.ones(len(frame), dtype=bool)
    for wanted, terms in ((True, selection.only), (False, selection.exclude)):
        for name, values in terms.items():
            column = SELECTABLE[name]
            if column not in frame.columns:
                frame = with_manifest_columns(frame)
            cells = frame[column].astype(str)
            if name != "site" and not cells.str.len().any():
                raise InputError(where, f"no {MANIFEST_NAME} beside the inputs gives {name!r}")
            keep &= cells.isin(values).to_numpy() == wanted
    if not keep.any():
        raise InputError(where, "the selection leaves no documents")
    return frame[keep].reset_index(drop=True)


# --------------------------------------------------------------------------- many inputs


def read_documents(
    paths: Iterable[str | Path],
    *,
    labeled: bool,
    labels: Sequence[str] = LABELS,
    encoding: str = "utf-8",
    label_hint: str = NEW_LABELS_HINT,
) -> pd.DataFrame:
    """Read every input named by ``paths`` into one paragraph frame.

    ``labeled=True`` (train, evaluate) reads ``*.tsv`` and tables and requires labels;
    ``labeled=False`` (predict) also reads ``*.txt`` dumps and takes a labeled dump's text.
    """
    suffixes = LABELED_SUFFIXES + TABLE_SUFFIXES
    if not labeled:
        suffixes = DUMP_SUFFIXES + suffixes
    frames = [
        read_input(path, labeled=labeled, labels=labels, encoding=encoding, label_hint=label_hint)
        for path in expand_paths(paths, suffixes)
    ]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    if frame.empty:
        raise InputError(", ".join(str(p) for p in paths), "no paragraphs in the input")
    return frame


def read_corpus(
    paths: Sequence[str | Path],
    *,
    labels: Sequence[str] = LABELS,
    encoding: str = "utf-8",
    selection: Selection = NO_SELECTION,
    label_hint: str = NEW_LABELS_HINT,
) -> pd.DataFrame:
    """The labeled documents of ``paths`` with their manifest columns (``collection``,
    ``tier``), those ``selection`` keeps (train, cross-validate, evaluate)."""
    frame = read_documents(
        paths, labeled=True, labels=labels, encoding=encoding, label_hint=label_hint
    )
    frame = with_manifest_columns(frame)
    return select_documents(frame, selection, ", ".join(map(str, paths)))


def read_input(
    path: str | Path,
    *,
    labeled: bool,
    labels: Sequence[str] = LABELS,
    encoding: str = "utf-8",
    label_hint: str = NEW_LABELS_HINT,
) -> pd.DataFrame:
    """Read one file (or stdin) by its kind: dump, labeled dump or table."""
    suffix = "" if str(path) == STDIN_PATH else Path(path).suffix.lower()
    if suffix in TABLE_SUFFIXES:
        frame = read_table(path, labels, labeled, encoding, label_hint)
    elif labeled or suffix in LABELED_SUFFIXES:
        frame = read_labeled_dump(path, labels, encoding, labeled, label_hint)
    else:
        frame = read_dump(path, encoding)
    if str(path) != STDIN_PATH and suffix not in TABLE_SUFFIXES:
        cache: dict[tuple[Path, str], dict[str, str]] = {}
        frame["site"] = site_of(Path(path), Path(path).stem, cache) if len(frame) else []
    return frame


# --------------------------------------------------------------------------- writing


def check_output(path: str | Path, force: bool = True) -> None:
    """Fail before any work is done if a file cannot be written at ``path``: it exists (and
    ``force`` is false), it is a folder, or the nearest existing folder above it is a file
    or not writable. Missing folders are fine: writing makes them."""
    target = Path(path)
    if target.is_dir():
        raise OutputError(target, "is a folder")
    if target.exists() and not force:
        raise OutputError(target, "exists; use force=True to overwrite")
    check_folder(target.parent, target)


def check_folder(path: str | Path, named: str | Path | None = None) -> None:
    """Fail if files cannot be written in the folder ``path`` (see :func:`check_output`);
    the message names ``named`` (default: the folder)."""
    folder = Path(path)
    named = folder if named is None else named
    try:
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise OutputError(named, f"cannot write: {folder} is a file, not a folder")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OutputError(named, f"cannot write: no permission to write in {folder}")
    except OSError as error:
        raise OutputError(named, f"cannot write: {error.strerror or error}") from None


@contextmanager
def staged_outputs(targets: Sequence[str | Path], force: bool = True) -> Iterator[list[Path]]:
    """The one safe write of newsseg: paths in a temporary folder beside the last of
    ``targets`` to write them at; when the block ends, each is moved over its target in
    order, and on any failure none is and the folder goes, so no target is ever half-written
    and no temporary stays behind. ``force=False`` refuses to overwrite a target. An
    ``OSError`` (a full disk, say) becomes an :class:`OutputError` of the last target."""
    paths = [Path(target) for target in targets]
    main = paths[-1]
    for path in paths:
        check_output(path, force)
    try:
        main.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{main.name}.", dir=main.parent))
    except OSError as error:
        raise OutputError(main, f"cannot write: {error.strerror or error}") from None
    try:
        staged = [staging / path.name for path in paths]
        yield staged
        for temporary, target in zip(staged, paths, strict=True):
            os.chmod(temporary, PUBLIC_FILE_MODE)
            os.replace(temporary, target)
    except OSError as error:
        raise OutputError(main, f"cannot write: {error.strerror or error}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def new_file(path: str | Path, mode: str = "w") -> io.IOBase:
    """A new file at ``path`` opened for writing (UTF-8 with ``\\n`` line ends for text)."""
    binary = "b" in mode
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PUBLIC_FILE_MODE)
    return os.fdopen(
        descriptor, mode, encoding=None if binary else "utf-8", newline=None if binary else "\n"
    )


@contextmanager
def atomic_output(path: str | Path, mode: str = "w", force: bool = True) -> Iterator[io.IOBase]:
    """A file to write ``path``'s content to, moved over ``path`` on success (see
    :func:`staged_outputs`). ``force=False`` refuses to overwrite."""
    with staged_outputs([path], force) as (temporary,), new_file(temporary, mode) as stream:
        yield stream


def write_text(path: str | Path, text: str, force: bool = True) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_output(path, "w", force=force) as stream:
        stream.write(text)


# --------------------------------------------------------------------------- CSV cells


class _LineList(list):
    """A list a csv writer writes to: one item per row, as ``writerow`` writes once a row."""

    def write(self, text: str) -> None:
        self.append(text)


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A spreadsheet takes a cell starting with one of these as a formula (``=HYPERLINK(...)``
runs when the file is opened): such text cells get a leading ``'`` in every CSV we write."""


def neutralise_formula(value: object) -> object:
    """A text cell as a spreadsheet shows it without running it: ``'`` before a leading
    ``=``, ``+``, ``-``, ``@``, tab or CR (OWASP's advice); numbers and other text as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_lines(rows: Iterable[Sequence]) -> list[str]:
    """CSV lines of ``rows`` (their line ends included), text cells safe in a spreadsheet."""
    lines = _LineList()
    safe_rows = ([neutralise_formula(value) for value in row] for row in rows)
    csv.writer(lines, lineterminator="\n").writerows(safe_rows)
    return lines


def document_runs(doc_ids: Sequence) -> list[tuple[object, list[slice]]]:
    """Each document's rows as slices, documents in order of first appearance (rows of a
    document that are apart are gathered, as ``groupby(sort=False)`` does)."""
    values = np.asarray(doc_ids, dtype=object)
    runs: dict[object, list[slice]] = {}
    for part in run_slices(values):
        runs.setdefault(values[part.start], []).append(part)
    return list(runs.items())
