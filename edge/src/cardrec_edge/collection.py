"""A card collection in one SQLite file: confirmed scans in, a CSV that card-collection tools import out.

The file is created on first use; its schema version is kept in ``PRAGMA user_version``. Every call opens
its own short-lived connection (and writes hold a lock), so one ``Collection`` can serve a threaded server.
"""
from __future__ import annotations

import csv
import sqlite3
import threading
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

SCHEMA_VERSION = 1
CONDITIONS = ("Mint", "Near Mint", "Lightly Played", "Moderately Played", "Heavily Played", "Damaged")
PRINTINGS = ("Normal", "Holofoil", "Reverse Holofoil", "1st Edition")
LANGUAGES = ("English", "Japanese", "French", "German", "Italian", "Spanish", "Portuguese", "Dutch", "Polish",
             "Russian", "Korean", "Chinese (Simplified)", "Chinese (Traditional)", "Thai", "Indonesian")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet runs a cell starting with one of these
CSV_HEADER = ("Quantity", "Name", "Set", "Card Number", "Rarity", "Printing", "Condition", "Language")
MAX_QUANTITY = 10_000
ROW_FIELDS = ("id", "card_id", "name", "set_code", "set_name", "number", "rarity", "quantity", "condition",
              "printing", "language", "scanned_at")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS collection (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    card_id TEXT NOT NULL,
    name TEXT NOT NULL,
    set_code TEXT,
    set_name TEXT,
    number TEXT,
    rarity TEXT,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    condition TEXT NOT NULL,
    printing TEXT NOT NULL,
    language TEXT NOT NULL,
    scanned_at TEXT NOT NULL
);
"""


def _choice(kind: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{kind} {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def validate_entry(quantity: object, condition: object, printing: object, language: object) -> None:
    """Raise ValueError naming the offending value when an entry's fields are not acceptable."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= MAX_QUANTITY:
        raise ValueError(f"quantity {quantity!r} must be a whole number from 1 to {MAX_QUANTITY}")
    _choice("condition", condition, CONDITIONS)
    _choice("printing", printing, PRINTINGS)
    _choice("language", language, LANGUAGES)


def csv_cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet shows as text: a leading ' before a formula character."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


class Collection:
    """Cards a user confirmed, one row per confirmation, in the SQLite file at ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, closing(self._connect()) as con, con:
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise ValueError(f"{self.path} has collection schema {version}; this version reads {SCHEMA_VERSION}")
            con.executescript(_SCHEMA)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=10)
        con.row_factory = sqlite3.Row
        return con

    def add(self, card: dict, quantity: int = 1, condition: str = "Near Mint", printing: str = "Normal",
            language: str = "English") -> int:
        """Store one confirmed card (a card-table row: id, name, set, number, rarity); returns the row id."""
        validate_entry(quantity, condition, printing, language)
        if not card.get("id") or not card.get("name"):
            raise ValueError(f"card needs an id and a name, got {card!r}")
        scanned = datetime.now(timezone.utc).isoformat(timespec="seconds")
        values = (card["id"], card["name"], card.get("set"), card.get("set_name"), card.get("number"),
                  card.get("rarity"), quantity, condition, printing, language, scanned)
        with self._lock, closing(self._connect()) as con, con:
            cur = con.execute(f"INSERT INTO collection ({', '.join(ROW_FIELDS[1:])}) VALUES "
                              f"({', '.join('?' * len(values))})", values)
            return int(cur.lastrowid)

    def rows(self) -> list[dict]:
        """All rows, oldest first."""
        with closing(self._connect()) as con:
            return [dict(r) for r in con.execute(f"SELECT {', '.join(ROW_FIELDS)} FROM collection ORDER BY id")]

    def remove(self, row_id: int) -> bool:
        """Delete one row; False when there was no such row."""
        with self._lock, closing(self._connect()) as con, con:
            return con.execute("DELETE FROM collection WHERE id = ?", (row_id,)).rowcount > 0

    def export_csv(self, file_obj: IO[str]) -> int:
        """Write the collection as CSV (``CSV_HEADER``), quantities summed per card, printing, condition and
        language; ``Set`` is the set's name when the card table has one, else its code. Cells that start like a
        formula are neutralised (``csv_cell``). Returns data rows."""
        groups: dict[tuple, list] = {}
        for r in self.rows():
            key = (r["card_id"], r["printing"], r["condition"], r["language"])
            if key in groups:
                groups[key][0] += r["quantity"]
            else:
                groups[key] = [r["quantity"], r["name"], r["set_name"] or r["set_code"] or "", r["number"] or "",
                               r["rarity"] or "", r["printing"], r["condition"], r["language"]]
        writer = csv.writer(file_obj, lineterminator="\r\n")
        writer.writerow(CSV_HEADER)
        writer.writerows([csv_cell(v) for v in row] for row in groups.values())
        return len(groups)
