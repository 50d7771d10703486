"""Synthetic sets: deterministic, pokemon-tcg-data shaped, with deliberate near-duplicates."""
import json

import numpy as np
from PIL import Image

from cardrec.data.synthesize import SynthSet, write_dataset

SETS = [SynthSet("aa", "A", 10, reverse=1, gold=1), SynthSet("bb", "B", 10, reprints=3, reverse=1, gold=1)]


def write(tmp, sid):
    write_dataset(5, SETS, sid, tmp / "cards" / "en" / f"{sid}.json", tmp / "images" / sid)
    return json.loads((tmp / "cards" / "en" / f"{sid}.json").read_text())


def test_deterministic_and_in_tcg_format(tmp_path):
    a = write(tmp_path / "1", "aa")
    b = write(tmp_path / "2", "aa")
    assert a == b and len(a) == 10
    for card in a:
        assert {"id", "name", "number", "rarity", "hp", "types", "images"} <= set(card)
        assert card["images"]["large"].endswith("_hires.png")
        one = tmp_path / "1" / "images" / "aa" / f"{card['id']}.png"
        two = tmp_path / "2" / "images" / "aa" / f"{card['id']}.png"
        assert one.read_bytes() == two.read_bytes()


def test_near_duplicates_exist(tmp_path):
    a, b = write(tmp_path, "aa"), write(tmp_path, "bb")
    names_a = {c["name"] for c in a}
    reprints = [c for c in b if c["name"] in names_a and c["subtypes"] == ["Basic"]]
    assert len(reprints) >= 3  # same Pokemon and artwork in a later set
    kinds = {c["subtypes"][0] for c in a}
    assert {"reverse", "gold"} <= kinds
    rev = next(c for c in a if c["subtypes"] == ["reverse"])
    twin = next(c for c in a if c["name"] == rev["name"] and c["subtypes"] == ["Basic"])
    img = lambda c: np.asarray(Image.open(tmp_path / "images" / "aa" / f"{c['id']}.png"), np.float32)
    diff = np.abs(img(rev) - img(twin)).mean()
    assert 0 < diff < 20  # close, but not identical
