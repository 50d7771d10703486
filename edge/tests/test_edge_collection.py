"""The SQLite card collection and its CSV export (cardrec_edge.collection)."""
from __future__ import annotations

import csv
import io
import sqlite3

import pytest
from cardrec_edge.collection import CSV_HEADER, SCHEMA_VERSION, Collection

PIKACHU = {"id": "sv1-5", "name": "Pikachu", "set": "sv1", "set_name": "Scarlet & Violet", "number": "5",
           "rarity": "Common"}
ODD = {"id": "x-1", "name": 'Team Rocket\'s "Boss", Giovanni', "set": "xx", "number": "1/99", "rarity": None}


def export(col: Collection) -> list[list[str]]:
    buf = io.StringIO(newline="")
    col.export_csv(buf)
    return list(csv.reader(io.StringIO(buf.getvalue(), newline="")))


def test_add_rows_remove(tmp_path):
    col = Collection(tmp_path / "sub" / "c.sqlite")
    assert col.rows() == []
    a = col.add(PIKACHU)
    b = col.add(PIKACHU, quantity=3, condition="Lightly Played", printing="Holofoil", language="German")
    assert a != b
    rows = col.rows()
    assert [r["id"] for r in rows] == [a, b]
    first = rows[0]
    assert (first["card_id"], first["name"], first["set_code"], first["number"], first["rarity"]) == \
        ("sv1-5", "Pikachu", "sv1", "5", "Common")
    assert (first["quantity"], first["condition"], first["printing"], first["language"]) == \
        (1, "Near Mint", "Normal", "English")
    assert first["scanned_at"].endswith("+00:00")
    assert rows[1]["quantity"] == 3 and rows[1]["language"] == "German"
    assert col.remove(a) is True
    assert col.remove(a) is False
    assert [r["id"] for r in col.rows()] == [b]


def test_csv_header_aggregation_and_quoting(tmp_path):
    col = Collection(tmp_path / "c.sqlite")
    col.add(PIKACHU, quantity=2)
    col.add(ODD)
    col.add(PIKACHU, quantity=3)  # same card/printing/condition/language: summed
    col.add(PIKACHU, printing="Reverse Holofoil")  # different printing: own line
    text = io.StringIO(newline="")
    assert col.export_csv(text) == 3
    raw = text.getvalue()
    assert raw.splitlines()[0] == ",".join(CSV_HEADER) == \
        "Quantity,Name,Set,Card Number,Rarity,Printing,Condition,Language"
    assert '"Team Rocket\'s ""Boss"", Giovanni"' in raw
    rows = export(col)
    assert rows[0] == list(CSV_HEADER)
    assert rows[1] == ["5", "Pikachu", "Scarlet & Violet", "5", "Common", "Normal", "Near Mint", "English"]
    assert rows[2] == ["1", ODD["name"], "xx", "1/99", "", "Normal", "Near Mint", "English"]
    assert rows[3][0] == "1" and rows[3][5] == "Reverse Holofoil"


def test_empty_export_is_header_only(tmp_path):
    assert export(Collection(tmp_path / "c.sqlite")) == [list(CSV_HEADER)]


@pytest.mark.parametrize("kwargs, word", [
    ({"condition": "Pristine"}, "'Pristine'"),
    ({"printing": "Golden"}, "'Golden'"),
    ({"quantity": 0}, "quantity 0"),
    ({"quantity": 2.5}, "quantity 2.5"),
    ({"quantity": True}, "quantity True"),
    ({"language": " "}, "language"),
    ({"language": '=HYPERLINK("http://evil.example")'}, "language '=HYPERLINK"),
    ({"language": "english"}, "language 'english' is not one of English"),
])
def test_validation_names_the_value(tmp_path, kwargs, word):
    col = Collection(tmp_path / "c.sqlite")
    with pytest.raises(ValueError, match=word.replace("(", r"\(")):
        col.add(PIKACHU, **kwargs)
    assert col.rows() == []


def test_card_without_id_rejected(tmp_path):
    with pytest.raises(ValueError, match="id and a name"):
        Collection(tmp_path / "c.sqlite").add({"name": "Pikachu"})


def test_persists_across_reopen_and_versioned(tmp_path):
    path = tmp_path / "c.sqlite"
    Collection(path).add(PIKACHU, quantity=4)
    again = Collection(path)
    assert [(r["card_id"], r["quantity"]) for r in again.rows()] == [("sv1-5", 4)]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ValueError, match="schema"):
        Collection(path)


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    """CSV formula injection: a cell starting with = + - @ tab or CR is prefixed with ' (shown as text)."""
    col = Collection(tmp_path / "c.sqlite")
    names = ["=1+2", "+SUM(A1)", "-2+3", "@cmd", "\t=x", "\r=x", "Mr. Mime", "Ho-Oh"]
    for i, name in enumerate(names):
        col.add({"id": f"x-{i}", "name": name, "set": "=evil", "number": "-1", "rarity": "@r"})
    body = export(col)[1:]
    assert [r[1] for r in body] == ["'=1+2", "'+SUM(A1)", "'-2+3", "'@cmd", "'\t=x", "'\r=x", "Mr. Mime", "Ho-Oh"]
    assert all((r[2], r[3], r[4]) == ("'=evil", "'-1", "'@r") for r in body)
    assert all(r[0].isdigit() for r in body)  # quantities stay numbers
