"""Deterministic synthetic card sets in pokemon-tcg-data format (the embedded default dataset).

Each card has a type-coloured frame, name and HP, procedural artwork, a set symbol and a
collector number. Near-duplicates are deliberate, so that hard-negative mining finds them:
``reprint`` (the same artwork and name in a later set), ``reverse`` (the same card with a
reverse-holo sparkle pattern outside the artwork, its own id) and ``gold`` (a gold-framed,
gold-tinted secret rare of a Pokemon from the same set).
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

log = logging.getLogger(__name__)

CARD_W, CARD_H = 245, 342  # pokemon-tcg-data "small" image size
ART_BOX = (20, 44, 225, 170)
TYPE_COLOURS = {
    "Grass": (92, 168, 72), "Fire": (222, 84, 52), "Water": (64, 132, 214), "Lightning": (236, 200, 52),
    "Psychic": (160, 92, 180), "Fighting": (176, 104, 64), "Darkness": (60, 64, 80),
    "Metal": (150, 156, 166), "Dragon": (196, 164, 64), "Colorless": (214, 210, 200),
}
SYLLABLES = ["pi", "ka", "chu", "bul", "ba", "sau", "char", "man", "der", "squir", "tle", "eev", "ee",
             "mew", "two", "gen", "gar", "sno", "lax", "lu", "cario", "gyara", "dos", "ony", "x", "zu", "bat"]


@dataclass(frozen=True)
class SynthSet:
    id: str
    name: str
    n_cards: int
    reprints: int = 0  # cards reprinting artwork from earlier sets
    reverse: int = 0  # reverse-holo twins of cards in this set
    gold: int = 0  # gold secret rares of Pokemon in this set


def species(seed: int, k: int) -> dict:
    """Name, type, HP and artwork seed of species ``k`` (stable across sets)."""
    rng = np.random.default_rng([seed, 1, k])
    name = "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))).capitalize()
    return {"name": name, "type": str(rng.choice(list(TYPE_COLOURS))), "hp": int(rng.integers(3, 25)) * 10,
            "art_seed": int(rng.integers(2**31))}


def draw_artwork(art_seed: int, size: tuple[int, int], gold: bool = False) -> Image.Image:
    """Procedural artwork: gradient sky, hills, and a creature of random blobs."""
    w, h = size
    rng = np.random.default_rng(art_seed)
    top, bottom = rng.integers(40, 255, 3), rng.integers(0, 200, 3)
    t = np.linspace(0, 1, h)[:, None, None]
    sky = (top * (1 - t) + bottom * t).astype(np.uint8).repeat(w, axis=1)
    img = Image.fromarray(sky, "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(2, 4))):  # hills
        y = int(rng.integers(h // 2, h))
        d.ellipse([int(rng.integers(-w, w // 2)), y, int(rng.integers(w // 2, 2 * w)), y + h],
                  fill=tuple(int(c) for c in rng.integers(0, 180, 3)))
    cx, cy = int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3))
    body = tuple(int(c) for c in rng.integers(30, 255, 3))
    for _ in range(int(rng.integers(4, 9))):  # creature
        rx, ry = int(rng.integers(8, w // 4)), int(rng.integers(8, h // 3))
        ox, oy = int(rng.integers(-w // 5, w // 5)), int(rng.integers(-h // 5, h // 5))
        shade = tuple(int(np.clip(c + rng.integers(-60, 60), 0, 255)) for c in body)
        d.ellipse([cx + ox - rx, cy + oy - ry, cx + ox + rx, cy + oy + ry], fill=shade)
    for _ in range(2):  # eyes
        ex, ey = cx + int(rng.integers(-20, 20)), cy - int(rng.integers(5, 25))
        d.ellipse([ex - 4, ey - 4, ex + 4, ey + 4], fill=(255, 255, 255))
        d.ellipse([ex - 2, ey - 2, ex + 2, ey + 2], fill=(0, 0, 0))
    img = img.filter(ImageFilter.GaussianBlur(0.6))
    if gold:
        g = np.asarray(img.convert("L"), np.float32)[..., None] / 255.0
        img = Image.fromarray((g * np.array([255, 215, 90]) + (1 - g) * np.array([90, 60, 10])).astype(np.uint8))
    return img


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def draw_card(card: dict, set_index: int, total: int, variant: str) -> Image.Image:
    """Render one card face (RGB, CARD_W x CARD_H)."""
    colour = (212, 175, 55) if variant == "gold" else TYPE_COLOURS[card["types"][0]]
    img = Image.new("RGB", (CARD_W, CARD_H), (250, 220, 90) if variant != "gold" else (180, 140, 40))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([8, 8, CARD_W - 9, CARD_H - 9], radius=10, fill=colour)
    panel = tuple(min(255, c + 60) for c in colour)
    d.rectangle([16, 40, CARD_W - 17, CARD_H - 17], fill=panel)
    if variant == "reverse":  # sparkle pattern everywhere but the artwork
        rng = np.random.default_rng(card["_art_seed"] + 7)
        for x, y in rng.integers([16, 40], [CARD_W - 17, CARD_H - 17], size=(220, 2)):
            d.point([(int(x), int(y)), (int(x) + 1, int(y))], fill=(255, 255, 255))
            d.line([(int(x) - 3, int(y)), (int(x) + 3, int(y))], fill=(235, 245, 255))
    d.text((18, 14), card["name"], fill=(20, 20, 20), font=_font(18))
    d.text((CARD_W - 78, 16), f"HP {card['hp']}", fill=(160, 20, 20), font=_font(15))
    art = draw_artwork(card["_art_seed"], (ART_BOX[2] - ART_BOX[0], ART_BOX[3] - ART_BOX[1]), gold=variant == "gold")
    img.paste(art, ART_BOX[:2])
    d.rectangle(ART_BOX, outline=(60, 60, 60), width=2)
    rng = np.random.default_rng([len(card["name"]), card["_art_seed"] % 9973])
    for row in range(3):  # attack lines
        y = 190 + row * 34
        d.text((24, y), f"{card['name'][:4]} {['Tackle', 'Blast', 'Guard'][row]}", fill=(30, 30, 30), font=_font(13))
        d.text((CARD_W - 60, y), str(int(rng.integers(1, 20)) * 10), fill=(30, 30, 30), font=_font(13))
    sym_rng = np.random.default_rng([99, set_index])  # set symbol: shape and colour per set
    sym_colour = tuple(int(c) for c in sym_rng.integers(0, 200, 3))
    sx, sy = CARD_W - 40, CARD_H - 38
    shape = set_index % 3
    if shape == 0:
        d.ellipse([sx, sy, sx + 14, sy + 14], fill=sym_colour)
    elif shape == 1:
        d.polygon([(sx + 7, sy), (sx + 14, sy + 14), (sx, sy + 14)], fill=sym_colour)
    else:
        d.rectangle([sx, sy, sx + 14, sy + 14], fill=sym_colour)
    d.text((24, CARD_H - 38), f"{card['number']}/{total}", fill=(20, 20, 20), font=_font(13))
    return img


def make_set(seed: int, set_index: int, spec: SynthSet, species_offset: int) -> list[tuple[dict, Image.Image]]:
    """Cards (pokemon-tcg-data dicts) and their faces for one set."""
    rng = np.random.default_rng([seed, 2, set_index])
    n_base = spec.n_cards - spec.reverse - spec.gold
    if n_base <= 0:
        raise ValueError(f"set {spec.id}: n_cards must exceed reverse + gold")
    ks = [species_offset + i for i in range(n_base - spec.reprints)]
    ks += [int(k) for k in rng.choice(species_offset, size=min(spec.reprints, species_offset), replace=False)] \
        if species_offset else []
    while len(ks) < n_base:  # the first set has nothing to reprint
        ks.append(species_offset + len(ks))
    base = []
    for i, k in enumerate(ks):
        sp = species(seed, k)
        base.append({"id": f"{spec.id}-{i + 1}", "name": sp["name"], "supertype": "Pokémon", "hp": str(sp["hp"]),
                     "types": [sp["type"]], "number": str(i + 1), "rarity": "Common", "_art_seed": sp["art_seed"],
                     "_variant": "regular", "_species": k})
    extra = []
    for kind, count in (("reverse", spec.reverse), ("gold", spec.gold)):
        for j in rng.choice(len(base), size=count, replace=False):
            src = base[int(j)]
            number = str(len(base) + len(extra) + 1)
            extra.append({**src, "id": f"{spec.id}-{number}", "number": number, "_variant": kind,
                          "rarity": "Rare Holo" if kind == "reverse" else "Rare Secret"})
    cards = base + extra
    out = []
    for c in cards:
        face = draw_card(c, set_index, n_base, c["_variant"])
        meta = {k: v for k, v in c.items() if not k.startswith("_")}
        meta["subtypes"] = [c["_variant"]] if c["_variant"] != "regular" else ["Basic"]
        meta["nationalPokedexNumbers"] = [c["_species"] + 1]
        meta["images"] = {"small": f"https://example.invalid/{spec.id}/{c['number']}.png",
                          "large": f"https://example.invalid/{spec.id}/{c['number']}_hires.png"}
        out.append((meta, face))
    return out


def write_dataset(seed: int, sets: list[SynthSet], set_id: str, json_out: Path, images_out: Path) -> int:
    """Write one set's JSON and images; earlier sets are needed only for the species offset."""
    offset = 0
    for index, spec in enumerate(sets):
        if spec.id == set_id:
            break
        offset += spec.n_cards - spec.reverse - spec.gold - spec.reprints
    else:
        raise KeyError(f"set {set_id!r} not in the synthetic config")
    cards = make_set(seed, index, spec, offset)
    images_out.mkdir(parents=True, exist_ok=True)
    for meta, face in cards:
        face.save(images_out / f"{meta['id']}.png", optimize=False)
    json_out.parent.mkdir(parents=True, exist_ok=True)
    json_out.write_text(json.dumps([m for m, _ in cards], indent=1, ensure_ascii=False))
    log.info("set %s: %d cards written to %s", set_id, len(cards), images_out)
    return len(cards)
