"""Ingest quarantines every kind of bad input with a reason and converts odd-but-valid images."""
import csv
import json

import numpy as np
import pytest
from PIL import Image

from cardrec.data.decode import decode_card
from cardrec.data.ingest import IngestConfig, IngestError, ingest_set, set_images


def make_bad_corpus(images, set_id="tst"):
    """One file per failure mode; returns the metadata list."""
    rng = np.random.default_rng(0)
    face = rng.integers(0, 255, (140, 100, 3), dtype=np.uint8)
    Image.fromarray(face).save(images / f"{set_id}-1.png")  # good
    Image.fromarray(face).convert("RGBA").save(images / f"{set_id}-2.png")  # RGBA -> converted
    Image.fromarray(face).convert("CMYK").save(images / f"{set_id}-3.jpg")  # CMYK JPEG -> converted
    Image.fromarray((rng.integers(0, 65535, (140, 100))).astype(np.uint16)).save(images / f"{set_id}-4.png")  # 16-bit
    (images / f"{set_id}-5.png").write_bytes(b"")  # 0 bytes
    data = (images / f"{set_id}-1.png").read_bytes()
    (images / f"{set_id}-6.png").write_bytes(data[: len(data) // 2])  # truncated PNG
    _declared_huge_png(images / f"{set_id}-7.png")  # decompression bomb
    Image.fromarray(face).save(images / f"{set_id}-8.png", format="JPEG")  # wrong extension
    Image.fromarray(face).save(images / f"{set_id}-99.png")  # no metadata entry
    cards = [{"id": f"{set_id}-{i}", "name": f"Card {i}", "number": str(i)} for i in range(1, 9)]
    cards += [{"id": f"{set_id}-1", "name": "Duplicate", "number": "1"},  # duplicate id
              {"id": f"{set_id}-50", "name": "No image", "number": "50"},  # missing file
              {"name": "no id"}]
    return cards


def _declared_huge_png(path):
    """A tiny PNG whose header declares 30000x30000: decoding it would need ~2.7 GB."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + chunk(b"IEND", b""))


def test_bad_corpus_is_quarantined_with_reasons(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    cards = make_bad_corpus(images)
    (tmp_path / "tst.json").write_text(json.dumps(cards))
    before = {p.name: p.read_bytes() for p in images.iterdir()}
    summary = ingest_set("tst", tmp_path / "tst.json", set_images(images, "tst"),
                         IngestConfig(max_reject_fraction=0.9), tmp_path / "cards.json", tmp_path / "rejected.csv")
    accepted = {c["id"]: c for c in json.loads((tmp_path / "cards.json").read_text())}
    assert set(accepted) == {"tst-1", "tst-2", "tst-3", "tst-4"}
    assert any("alpha" in n for n in accepted["tst-2"]["notes"])
    assert any("CMYK" in n for n in accepted["tst-3"]["notes"])
    assert any("16" in n for n in accepted["tst-4"]["notes"])
    rejected = {(r["id"], r["reason"].split(" ")[0]) for r in csv.DictReader(open(tmp_path / "rejected.csv"))}
    reasons = {r["id"]: r["reason"] for r in csv.DictReader(open(tmp_path / "rejected.csv"))}
    assert "0 bytes" in reasons["tst-5"]
    assert "decode failed" in reasons["tst-6"]
    assert "30000x30000" in reasons["tst-7"]
    assert "content is JPEG" in reasons["tst-8"]
    assert "no metadata" in reasons["tst-99"]
    assert "no image file" in reasons["tst-50"]
    assert ("tst-1", "duplicate") in rejected and ("", "metadata") in rejected
    assert summary["accepted"] == 4
    assert {p.name: p.read_bytes() for p in images.iterdir()} == before  # nothing lost or modified


def test_rejection_fraction_limit_names_the_key(tmp_path):
    images = tmp_path / "images"
    images.mkdir()
    (images / "x-1.png").write_bytes(b"")
    (tmp_path / "x.json").write_text(json.dumps([{"id": "x-1", "name": "a"}]))
    with pytest.raises(IngestError, match="max_reject_fraction"):
        ingest_set("x", tmp_path / "x.json", set_images(images, "x"), IngestConfig(), tmp_path / "c.json",
                   tmp_path / "r.csv")
    assert (tmp_path / "r.csv").read_text().count("\n") == 2  # header + the reject, written before failing


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    a = np.array([[0, 32768], [65535, 65535]], np.uint16).repeat(40, 0).repeat(40, 1)
    Image.fromarray(a).save(tmp_path / "g.png")
    dec = decode_card(tmp_path / "g.png", 10**8, 8)
    assert dec.rgb is not None and dec.rgb.dtype == np.uint8
    assert dec.rgb[0, 0, 0] == 0 and dec.rgb[-1, -1, 0] == 255 and 120 < dec.rgb[0, 79, 0] < 135


def test_16bit_rgb_png_is_noted_and_pillow_limit_restored(tmp_path):
    import cv2

    rgb16 = np.random.default_rng(0).integers(0, 65535, (140, 100, 3)).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), rgb16)
    limit = Image.MAX_IMAGE_PIXELS
    got = decode_card(tmp_path / "deep.png", max_pixels=10**6, min_side=64)
    assert got.rgb is not None and got.rgb.dtype == np.uint8
    assert "16-bit RGB PNG reduced to 8-bit" in got.notes
    assert Image.MAX_IMAGE_PIXELS == limit  # Pillow's own bomb check is back for other code in the process


def _files_overlay(tmp_path, cards_json, images, **ingest):
    import yaml

    path = tmp_path / "files.yaml"
    data = {"source": "files", "cards_json": str(cards_json), "images_dir": str(images), "sets": "all", "train_sets": "all"}
    path.write_text(yaml.safe_dump({"data": data, **({"ingest": ingest} if ingest else {})}))
    return path


def test_images_are_found_by_card_id_whatever_the_json_is_called(tmp_path):
    """README: images are `<card id>.png` (or `<set>/<card id>.png`); the JSON's name does not matter."""
    from .conftest import TINY, make_workdir, snakemake

    images = tmp_path / "images"
    (images / "sv1").mkdir(parents=True)
    (images / "mycards").mkdir()
    face = np.random.default_rng(0).integers(0, 255, (140, 100, 3), dtype=np.uint8)
    where = {1: images, 2: images, 3: images / "sv1", 4: images / "mycards"}  # flat, the card's set, the JSON's set
    for n, folder in where.items():
        Image.fromarray(face).save(folder / f"sv1-{n}.png")
    (tmp_path / "mycards.json").write_text(json.dumps([{"id": f"sv1-{n}", "name": f"C{n}", "number": str(n)}
                                                       for n in where]))
    wd = make_workdir(tmp_path / "wd")
    snakemake(wd, "results/ingest/mycards/cards.json", "--configfile", str(TINY),
              str(_files_overlay(tmp_path, tmp_path / "mycards.json", images)))
    accepted = {c["id"]: c["path"] for c in json.loads((wd / "results/ingest/mycards/cards.json").read_text())}
    assert accepted == {f"sv1-{n}": str(where[n] / f"sv1-{n}.png") for n in where}
    assert (wd / "results/ingest/mycards/rejected.csv").read_text().strip() == "id,path,reason"


def test_failed_ingest_keeps_its_reasons_where_the_message_points(tmp_path):
    """Too many rejects fail the job; the first reasons are in the message and the file it names survives."""
    import re

    from .conftest import TINY, make_workdir, snakemake

    images = tmp_path / "images"
    images.mkdir()
    for n in range(1, 6):
        (images / f"bad-{n}.png").write_bytes(b"")
    (tmp_path / "bad.json").write_text(json.dumps([{"id": f"bad-{n}", "name": "x"} for n in range(1, 6)]))
    wd = make_workdir(tmp_path / "wd")
    proc = snakemake(wd, "results/ingest/bad/cards.json", "--configfile", str(TINY),
                     str(_files_overlay(tmp_path, tmp_path / "bad.json", images)), check=False)
    assert proc.returncode != 0
    line = next(ln for ln in (proc.stdout + proc.stderr).splitlines() if "max_reject_fraction" in ln)
    assert "bad-1" in line and "0 bytes" in line, line  # the first reasons, in the message itself
    named = re.findall(r"(?:results|logs)/[\w/.-]+\.(?:csv|log|txt)", line)
    assert named, line
    for rel in named:
        text = (wd / rel).read_text()
        assert all(f"bad-{n}" in text for n in range(1, 6)) and "0 bytes" in text, (rel, text)
