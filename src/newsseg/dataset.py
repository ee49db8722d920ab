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

import io
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from newsseg.config import (
    DUMP_SUFFIXES,
    LABELED_SUFFIXES,
    LABELS,
    MANIFEST_NAME,
    SITE_SEPARATOR,
    STDIN_PATH,
    TABLE_SUFFIXES,
)
from newsseg.errors import InputError, OutputError

COLUMNS = ["doc_id", "text", "label", "source", "line", "site"]
TABLE_COLUMNS = ("doc_id", "text")
PUBLIC_FILE_MODE = 0o644
"""Outputs are readable by all, as files written with a usual umask (mkstemp makes 0600)."""
BINARY_SNIFF_BYTES = 8192
"""A NUL byte in this many leading bytes marks a binary file, not a text dump."""
NEW_LABELS_HINT = "declare new labels with --labels"
"""How a label outside the label set is made welcome when training."""


# --------------------------------------------------------------------------- finding files


def expand_paths(paths: Iterable[str | Path], suffixes: Sequence[str]) -> list[str | Path]:
    """Files named by ``paths``: files as given, directories searched recursively for
    ``suffixes``, ``-`` kept for standard input. Missing paths are an error."""
    return [file for raw in paths for file in expand_path(raw, suffixes)]


def expand_path(raw: str | Path, suffixes: Sequence[str]) -> list[str | Path]:
    """The files named by one path (see :func:`expand_paths`)."""
    if str(raw) == STDIN_PATH:
        return [STDIN_PATH]
    path = Path(raw)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and p.suffix.lower() in suffixes and p.name != MANIFEST_NAME
        )
        if not files:
            raise InputError(path, f"no {'/'.join('*' + s for s in suffixes)} files in folder")
        return list(files)
    if path.is_file():
        return [path]
    raise InputError(path, "no such file or folder")


# --------------------------------------------------------------------------- decoding


def read_text(path: str | Path, encoding: str = "utf-8") -> str:
    """The whole text of a file (or stdin), decoded strictly; BOM and CRLF tolerated."""
    data = sys.stdin.buffer.read() if str(path) == STDIN_PATH else _read_bytes(path)
    return decode(data, path, encoding)


def _read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError(path, "no such file") from None
    except IsADirectoryError:
        raise InputError(path, "is a folder, not a file") from None
    except OSError as error:
        raise InputError(path, f"cannot read: {error.strerror}") from None


def decode(data: bytes, path: str | Path, encoding: str = "utf-8") -> str:
    """Decode ``data`` read from ``path``; errors name the file and line."""
    nul = data.find(b"\x00", 0, BINARY_SNIFF_BYTES)
    wide = encoding.lower().replace("-", "").replace("_", "").startswith(("utf16", "utf32"))
    if nul >= 0 and not wide:  # UTF-16 and UTF-32 text is full of NUL bytes
        line = data.count(b"\n", 0, nul) + 1
        raise InputError(
            path, "binary data (NUL byte), not a text file (UTF-16 text needs --encoding)", line
        )
    codec = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    try:
        text = data.decode(codec)
    except LookupError:
        raise InputError(path, f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        bad = data[error.start : error.start + 1].hex()
        raise InputError(
            path, f"cannot decode byte 0x{bad} as {encoding}; give the right --encoding", line
        ) from None
    except UnicodeError as error:  # codecs such as idna raise it without a position
        raise InputError(
            path, f"cannot decode as {encoding} ({error}); give the right --encoding"
        ) from None
    return text.lstrip("\ufeff")


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
    rows = [
        (number, line.strip()) for number, line in _lines(read_text(path, encoding)) if line.strip()
    ]
    return _frame(path, [text for _, text in rows], [None] * len(rows), [n for n, _ in rows])


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
    texts, found_labels, numbers = [], [], []
    for number, line in _lines(read_text(path, encoding)):
        if not line.strip():
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
        if not text.strip():
            continue
        texts.append(text.strip())
        found_labels.append(label or None)
        numbers.append(number)
    return _frame(path, texts, found_labels, numbers)


def _unknown_label(label: str, labels: Sequence[str], hint: str) -> str:
    return f"label {label!r} is not one of {', '.join(labels)} ({hint})"


def read_table(
    path: str | Path,
    labels: Sequence[str] = LABELS,
    require_labels: bool = True,
    encoding: str = "utf-8",
    label_hint: str = NEW_LABELS_HINT,
) -> pd.DataFrame:
    """A CSV, JSONL or Parquet table with ``doc_id``, ``text`` and (optional) ``label``."""
    suffix = Path(path).suffix.lower()
    if suffix == ".csv":
        table, first_line = _read_csv(path, encoding), 2
    elif suffix == ".jsonl":
        table, first_line = _read_jsonl(path, encoding), 1
    elif suffix == ".parquet":
        table, first_line = _read_parquet(path), 1
    else:
        raise InputError(path, f"unknown table kind {suffix!r}")
    missing = [column for column in TABLE_COLUMNS if column not in table.columns]
    if require_labels and "label" not in table.columns:
        missing.append("label")
    if missing:
        raise InputError(path, f"missing column(s): {', '.join(missing)}")
    table = table.reset_index(drop=True)
    table["line"] = table.index + first_line
    table["text"] = table["text"].map(_cell_text)
    table = table[table["text"] != ""]
    label_column = (
        table["label"].map(_cell_text) if "label" in table.columns else pd.Series("", table.index)
    )
    for line, label in zip(table["line"], label_column, strict=True):
        if label and label not in labels:
            raise InputError(path, _unknown_label(label, labels, label_hint), int(line))
        if require_labels and not label:
            raise InputError(path, "empty label", int(line))
    frame = pd.DataFrame(
        {
            "doc_id": table["doc_id"].map(_cell_text),
            "text": table["text"],
            "label": [label or None for label in label_column],
            "source": str(path),
            "line": table["line"].astype(int),
        }
    )
    if "site" in table.columns:
        frame["site"] = table["site"].map(_cell_text)
    else:
        frame["site"] = frame["doc_id"].map(_site_from_name)
    return frame.reset_index(drop=True)[COLUMNS]


def _cell_text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return " ".join(str(value).split())


def _read_csv(path: str | Path, encoding: str) -> pd.DataFrame:
    text = read_text(path, encoding)
    try:
        return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise InputError(path, "empty table") from None
    except pd.errors.ParserError as error:
        raise InputError(path, f"not a valid CSV table ({_first_line(error)})") from None


def _read_jsonl(path: str | Path, encoding: str) -> pd.DataFrame:
    records = []
    for number, line in _lines(read_text(path, encoding)):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(path, f"not a JSON object ({error.msg})", number) from None
        except (ValueError, RecursionError) as error:  # e.g. a 5000-digit integer, deep nesting
            raise InputError(
                path, f"not a usable JSON object ({_first_line(error)})", number
            ) from None
        if not isinstance(record, dict):
            raise InputError(path, "not a JSON object", number)
        records.append(record)
    return pd.DataFrame.from_records(records)


def _read_parquet(path: str | Path) -> pd.DataFrame:
    try:
        import pyarrow  # (checked here so the error can say how to install it)
    except ImportError:
        raise InputError(
            path, "reading Parquet needs pyarrow: pip install 'newsseg[parquet]'"
        ) from None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError, pyarrow.ArrowException) as error:
        raise InputError(path, f"not a valid Parquet file ({_first_line(error)})") from None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _frame(
    path: str | Path, texts: list[str], labels: list[str | None], numbers: list[int]
) -> pd.DataFrame:
    doc_id = "stdin" if str(path) == STDIN_PATH else Path(path).stem
    return pd.DataFrame(
        {
            "doc_id": doc_id,
            "text": pd.Series(texts, dtype=object),
            "label": pd.Series(labels, dtype=object),
            "source": str(path),
            "line": pd.Series(numbers, dtype=int),
            "site": _site_from_name(doc_id),
        },
        columns=COLUMNS,
    )


# --------------------------------------------------------------------------- sites


def _site_from_name(name: str) -> str:
    """The site part of a ``<site>__<id>`` name, else the whole name."""
    site, separator, _ = name.partition(SITE_SEPARATOR)
    return site if separator and site else name


def _manifest_sites(folder: Path, cache: dict[Path, dict[str, str]]) -> dict[str, str]:
    if folder not in cache:
        manifest = folder / MANIFEST_NAME
        sites: dict[str, str] = {}
        if manifest.is_file():
            try:
                table = pd.read_csv(manifest, dtype=str, keep_default_na=False)
            except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
                raise InputError(manifest, "not a valid manifest CSV") from None
            if {"doc_id", "site"} <= set(table.columns):
                sites = dict(zip(table["doc_id"], table["site"], strict=True))
        cache[folder] = sites
    return cache[folder]


def site_of(path: Path, doc_id: str, cache: dict[Path, dict[str, str]]) -> str:
    """A document's site: from a ``manifest.csv`` beside the file or in a folder above it
    (up to two levels), else the file-name part before ``__``, else the file name."""
    for folder in list(path.resolve().parents)[:3]:
        sites = _manifest_sites(folder, cache)
        if sites.get(doc_id):
            return sites[doc_id]
    return _site_from_name(doc_id)


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


def with_collections(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a paragraph frame with a ``collection`` column: the manifest's ``source`` of
    each document (see :data:`COLLECTION_COLUMN`), empty where no manifest names it."""
    cache: dict[tuple[Path, str], dict[str, str]] = {}
    documents = frame[["source", "doc_id"]].drop_duplicates().itertuples(index=False)
    found = {
        (source, doc_id): ""
        if source == STDIN_PATH
        else manifest_value(Path(source), str(doc_id), MANIFEST_COLLECTION, cache)
        for source, doc_id in documents
    }
    result = frame.copy()
    result[COLLECTION_COLUMN] = [
        found[key] for key in zip(frame["source"], frame["doc_id"], strict=True)
    ]
    return result


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
        cache: dict[Path, dict[str, str]] = {}
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
        raise OutputError(target, "exists; use --force to overwrite")
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
def atomic_output(path: str | Path, mode: str = "w", force: bool = True) -> Iterator[io.IOBase]:
    """Open a temporary file beside ``path``; on success rename it over ``path``, on failure
    remove it, so ``path`` is never half-written. ``force=False`` refuses to overwrite.
    An ``OSError`` while writing (a full disk, say) becomes an :class:`OutputError`."""
    target = Path(path)
    check_output(target, force)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        os.chmod(temporary, PUBLIC_FILE_MODE)
    except OSError as error:
        raise OutputError(target, f"cannot write: {error.strerror or error}") from None
    try:
        encoding = None if "b" in mode else "utf-8"
        newline = None if "b" in mode else "\n"
        with os.fdopen(handle, mode, encoding=encoding, newline=newline) as stream:
            yield stream
        os.replace(temporary, target)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise OutputError(target, f"cannot write: {error.strerror or error}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str, force: bool = True) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_output(path, "w", force=force) as stream:
        stream.write(text)


# --------------------------------------------------------------------------- predictions

OUTPUT_FORMATS = ("tsv", "jsonl", "csv")


def format_predictions(frame: pd.DataFrame, output_format: str, proba_labels: Sequence[str]) -> str:
    """Predictions of one or more documents as text.

    ``tsv`` is the labeled-dump format (``label<TAB>text``; a blank line between documents),
    so a prediction can be corrected by hand and trained on. ``jsonl`` and ``csv`` carry
    ``doc_id``, ``line``, ``text``, ``label`` and, for each of ``proba_labels``, its
    probability; a ``review`` column is kept when present.
    """
    if output_format == "tsv":
        blocks = [
            "".join(
                f"{label}\t{text}\n" for label, text in zip(doc["label"], doc["text"], strict=True)
            )
            for _, doc in frame.groupby("doc_id", sort=False)
        ]
        return "\n".join(blocks)
    columns = ["doc_id", "line", "text", "label"]
    if "review" in frame.columns:
        columns.append("review")
    proba_columns = [f"proba_{label}" for label in proba_labels]
    if output_format == "csv":
        table = frame[columns + proba_columns]
        return table.to_csv(index=False, lineterminator="\n", float_format="%.6g")
    if output_format == "jsonl":
        lines = []
        for row in frame[columns + proba_columns].itertuples(index=False):
            record = dict(zip(columns, row[: len(columns)], strict=True))
            record["line"] = int(record["line"])
            if proba_labels:
                values = row[len(columns) :]
                record["proba"] = {
                    label: round(float(value), 6)
                    for label, value in zip(proba_labels, values, strict=True)
                }
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        return "".join(lines)
    raise ValueError(f"unknown output format {output_format!r}; use one of {OUTPUT_FORMATS}")
