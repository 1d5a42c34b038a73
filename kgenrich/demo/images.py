"""Procedural photographs of silk textiles for the demo collection.

Each picture is a small RGB array drawn with numpy (no per-pixel Python loop)
from the artifact's hidden truth.  What it can show:

- depiction: the motif's shape, repeated like a woven pattern (rosettes for
  flowers, quadrupeds / birds / dragons for animals, stripes, lozenges and
  checks for geometrical compositions, standing figures);
- technique: the weave structure (damask: one colour, satin lines turning
  between ground and motif; embroidery: raised diagonal stitches on a plain
  cloth; velvet: soft blurred pile; tabby, satin, lampas, printing: their own
  fine structures);
- material: silk sheen, wool fuzz, matte slubby linen and cotton, sparkling
  gold and silver thread;
- time: the colour palette of the century (dyes and fashions changed);
- place, weakly: the scale of the pattern repeat (loom widths and drawing
  habits differed: large Italian and Spanish repeats, small dense Chinese and
  English ones), in overlapping ranges, and only when the motif is shown.

It never shows the production place for certain.  Every cue can be lost on a given
photograph (the motif cropped away, the texture out of focus, the colours
faded or cast by the lighting, the sheen not caught), so the image modality
is informative but imperfect on its own -- on purpose: the demo must need the
other modalities too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 64  # pixels; small so that a CPU model trains in minutes

# Probability that a photograph shows each cue; drawn independently per
# photograph, so several photographs of one artifact help.
P_MOTIF = 0.72
P_TEXTURE = 0.72
P_PALETTE = 0.66
P_MATERIAL = 0.68

# (ground, motif) colour pairs per century, 15th .. 20th (index 0 .. 5).
# Loosely historical: deep crimsons and greens with gold early, pastels in the
# 18th century, aniline purples and magentas in the 19th, strong contrasts in
# the 20th.
PALETTES: list[list[tuple[tuple[float, float, float], tuple[float, float, float]]]] = [
    [((0.55, 0.08, 0.10), (0.85, 0.68, 0.25)), ((0.15, 0.30, 0.15), (0.80, 0.65, 0.30))],
    [((0.45, 0.05, 0.14), (0.90, 0.78, 0.50)), ((0.10, 0.16, 0.42), (0.86, 0.72, 0.42))],
    [((0.32, 0.12, 0.12), (0.72, 0.55, 0.32)), ((0.22, 0.28, 0.12), (0.68, 0.58, 0.34))],
    [((0.88, 0.82, 0.66), (0.86, 0.52, 0.58)), ((0.68, 0.80, 0.88), (0.96, 0.93, 0.84))],
    [((0.45, 0.14, 0.55), (0.92, 0.82, 0.30)), ((0.76, 0.10, 0.46), (0.20, 0.62, 0.56))],
    [((0.10, 0.10, 0.12), (0.96, 0.56, 0.10)), ((0.08, 0.55, 0.62), (0.96, 0.90, 0.80))],
]

# Pattern repeats per photograph width, by production country: overlapping ranges,
# so the scale hints at the place without giving it away.
REPEATS = {"IT": (1.8, 2.5), "ES": (2.0, 2.7), "FR": (2.3, 3.0), "GB": (2.6, 3.3), "CN": (2.8, 3.5)}

_GOLD = np.array([0.90, 0.74, 0.30], np.float32)
_SILVER = np.array([0.82, 0.82, 0.86], np.float32)
_CLOTH = np.array([0.86, 0.82, 0.72], np.float32)  # undyed linen ground of embroideries


@dataclass(frozen=True)
class ImageSpec:
    """The hidden truth an image is drawn from (local names of demo concepts)."""

    technique: str  # fine concept, e.g. "figured_velvet"
    technique_group: str  # e.g. "velvet"
    material: str  # fine concept, e.g. "gold_thread"
    material_group: str  # e.g. "metal_thread"
    depiction: str  # fine concept, e.g. "peacock"
    century: int  # 0 = 15th .. 5 = 20th
    country: str = ""  # production country code (only the repeat's scale depends on it)


_GRID_CACHE: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    if size not in _GRID_CACHE:
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        _GRID_CACHE[size] = (x, y)
    return _GRID_CACHE[size]


def _box_blur(a: np.ndarray, r: int) -> np.ndarray:
    """Separable box blur of radius r on the first two axes (edge padded)."""
    if r <= 0:
        return a
    k = 2 * r + 1
    for axis in (0, 1):
        pad = [(0, 0)] * a.ndim
        pad[axis] = (r + 1, r)
        c = np.cumsum(np.pad(a, pad, mode="edge"), axis=axis, dtype=np.float32)
        hi = np.take(c, np.arange(k, c.shape[axis]), axis=axis)
        lo = np.take(c, np.arange(0, c.shape[axis] - k), axis=axis)
        a = (hi - lo) / k
    return a


def _low_freq_noise(rng: np.random.Generator, size: int, cells: int = 8) -> np.ndarray:
    """Smooth random field in about [-1, 1] (mottling of pile, wool fuzz, lighting)."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    rep = -(-size // cells)
    fine = np.kron(coarse, np.ones((rep, rep), np.float32))[:size, :size]
    return _box_blur(fine, rep // 2)


def _motif(depiction: str, cu: np.ndarray, cv: np.ndarray, pu: np.ndarray, pv: np.ndarray) -> np.ndarray:
    """Mask (0/1 float) of the motif in one repeat cell; cu, cv in [-0.5, 0.5)."""
    r = np.sqrt(cu * cu + cv * cv)
    th = np.arctan2(cv, cu)
    if depiction in ("flower", "rose", "tulip", "carnation"):
        petals = {"rose": 5, "tulip": 3, "carnation": 9}.get(depiction, 6)
        head = r < 0.20 + 0.09 * np.cos(petals * th)
        stem = (np.abs(cu) < 0.03) & (cv > 0.1) & (cv < 0.46)
        leaf = ((cu - 0.12) ** 2 / 0.012 + (cv - 0.3) ** 2 / 0.003) < 1
        return (head | stem | leaf).astype(np.float32)
    if depiction == "dragon":
        body = (np.abs(cv - 0.13 * np.sin(7 * cu)) < 0.055) & (np.abs(cu) < 0.42)
        head = ((cu - 0.38) ** 2 + (cv - 0.13 * np.sin(7 * 0.38)) ** 2) < 0.01
        return (body | head).astype(np.float32)
    if depiction in ("bird", "peacock"):
        body = (cu / 0.17) ** 2 + (cv / 0.10) ** 2 < 1
        head = ((cu - 0.17) ** 2 + (cv + 0.1) ** 2) < 0.004
        if depiction == "peacock":  # a fan of tail feathers behind the body
            tail = (r < 0.42) & (cu < -0.05) & (np.abs(th) > 2.0) & (np.cos(14 * th) > -0.2)
        else:  # spread wing
            tail = (cv < 0) & (cv > -0.32) & (np.abs(cu + 0.02) < 0.12 + cv * 0.3)
        return (body | head | tail).astype(np.float32)
    if depiction in ("animal", "lion"):
        body = (cu / 0.28) ** 2 + (cv / 0.13) ** 2 < 1
        head = ((cu - 0.28) ** 2 + (cv + 0.12) ** 2) < (0.12 if depiction == "lion" else 0.08) ** 2
        legs = ((np.abs(cu - 0.16) < 0.03) | (np.abs(cu + 0.16) < 0.03)) & (cv > 0.05) & (cv < 0.36)
        tail = (np.abs(cv + 0.05 + 0.5 * (cu + 0.28)) < 0.025) & (cu < -0.22) & (cu > -0.45)
        return (body | head | legs | tail).astype(np.float32)
    if depiction == "stripes":
        return ((pu * 2.0) % 1.0 < 0.35).astype(np.float32)
    if depiction == "check":
        return ((np.floor(pu * 2.0) + np.floor(pv * 2.0)) % 2).astype(np.float32)
    if depiction in ("lozenge", "geometrical_composition"):
        d = np.abs(cu) + np.abs(cv)
        return ((d > 0.22) & (d < 0.36) | (d < 0.08)).astype(np.float32)
    if depiction in ("human_figure", "angel", "shepherdess"):
        head = (cu ** 2 + (cv + 0.3) ** 2) < 0.085 ** 2
        body = (cv > -0.2) & (cv < 0.42) & (np.abs(cu) < 0.06 + 0.28 * (cv + 0.2))
        m = head | body
        if depiction == "angel":
            m |= ((np.abs(cu) - 0.2) ** 2 / 0.012 + (cv + 0.08) ** 2 / 0.004) < 1
        elif depiction == "shepherdess":
            m |= (np.abs(cu - 0.3) < 0.02) & (cv > -0.35) & (cv < 0.42)
        return m.astype(np.float32)
    if depiction == "coat_of_arms":  # a shield
        shield = (np.abs(cu) < 0.25) & (cv > -0.3) & (cv < 0.3 - 0.6 * np.abs(cu))
        return shield.astype(np.float32)
    raise ValueError(f"no motif drawing for {depiction!r}")


@dataclass(frozen=True)
class _Cues:
    """Which cues one photograph shows (drawn first, in this order)."""

    motif: bool
    texture: bool
    palette: bool
    material: bool


@dataclass
class _Weave:
    """The colours and fine structures of ground and motif, after the technique has shaped them."""

    ground: np.ndarray
    motif: np.ndarray
    mask: np.ndarray
    tex_ground: np.ndarray
    tex_motif: np.ndarray
    brocade_colour: np.ndarray


def _camera(rng: np.random.Generator, X: np.ndarray, Y: np.ndarray, size: int):
    """The camera: rotation, zoom and crop of the fabric.  Returns the fabric coordinates (u, v) and
    the pixel-scale ones (tu, tv) the weave structure is drawn on."""
    ang = rng.uniform(-0.3, 0.3)
    ca, sa = np.float32(np.cos(ang)), np.float32(np.sin(ang))
    zoom = rng.uniform(0.8, 1.3)
    xc, yc = X / size - 0.5, Y / size - 0.5
    u = (ca * xc - sa * yc) * zoom + rng.uniform(0, 4)
    v = (sa * xc + ca * yc) * zoom + rng.uniform(0, 4)
    tu, tv = ca * X - sa * Y, sa * X + ca * Y
    return u, v, tu, tv


def _pattern(spec: ImageSpec, rng: np.random.Generator, cues: _Cues, u: np.ndarray, v: np.ndarray):
    """The motif, repeated with a half-drop like a loom pattern: its mask and the cell coordinates."""
    lo, hi = REPEATS.get(spec.country, (2.0, 3.0))
    reps = rng.uniform(lo, hi) if cues.motif else rng.uniform(0.45, 0.7)  # lost: a close crop
    pu, pv = u * reps, v * reps
    row = np.floor(pv)
    pu = pu + 0.5 * (row % 2)
    cu, cv = pu - np.floor(pu) - 0.5, pv - row - 0.5
    mask = _motif(spec.depiction, cu, cv, pu, pv)
    if not cues.motif and rng.random() < 0.5:
        mask[:] = 0.0  # a detail of the plain ground only
    return mask, cv


def _colours(spec: ImageSpec, rng: np.random.Generator, cues: _Cues) -> tuple[np.ndarray, np.ndarray]:
    """Ground and motif colours of the century (or another's: faded, restored, a colour cast)."""
    century = spec.century if cues.palette else int(rng.integers(0, len(PALETTES)))
    pair = PALETTES[century][int(rng.integers(0, len(PALETTES[century])))]
    ground = np.clip(np.array(pair[0], np.float32) + rng.normal(0, 0.05, 3).astype(np.float32), 0, 1)
    motif = np.clip(np.array(pair[1], np.float32) + rng.normal(0, 0.05, 3).astype(np.float32), 0, 1)
    return ground, motif


def _weave(spec: ImageSpec, ground: np.ndarray, motif: np.ndarray, mask: np.ndarray,
           tu: np.ndarray, tv: np.ndarray) -> _Weave:
    """What the technique does to the colours, the motif's edge and the weave structure."""
    tech, tgroup = spec.technique, spec.technique_group
    brocade_colour = motif
    tex_ground = np.zeros_like(tu)
    tex_motif = np.zeros_like(tu)
    if tgroup == "damask":
        # One colour: the motif is the ground's hue, lighter; satin lines turn 90 degrees.
        motif = np.clip(ground * 1.4 + 0.08, 0, 1)
        tex_ground = 0.07 * np.sin(2 * np.pi * tu / 4)
        tex_motif = 0.07 * np.sin(2 * np.pi * tv / 4)
    elif tgroup == "embroidery":
        ground = 0.6 * _CLOTH + 0.4 * np.clip(ground + 0.35, 0, 1)
        tex_ground = 0.03 * np.cos(np.pi * tu) * np.cos(np.pi * tv)
        tex_motif = 0.13 * np.sin(2 * np.pi * (tu + tv) / 3.5)
    elif tgroup == "velvet":
        ground = ground * 0.55
        motif = np.clip(motif * 1.1, 0, 1)
        mask = _box_blur(mask, 2)
    else:  # other techniques and unmapped ones
        if tech == "satin":
            tex_ground = tex_motif = 0.05 * np.sin(2 * np.pi * tu / 2.5)
        elif tech == "lampas":
            tex_ground = 0.03 * np.cos(np.pi * tu) * np.cos(np.pi * tv)
            tex_motif = 0.11 * np.sin(2 * np.pi * tv / 3)
        elif tech == "printing":
            pass  # flat printed colour, no weave structure to speak of
        else:  # tabby, passementerie
            tex_ground = tex_motif = 0.06 * np.cos(np.pi * tu) * np.cos(np.pi * tv)
    return _Weave(ground, motif, mask, tex_ground, tex_motif, brocade_colour)


def _cloth(spec: ImageSpec, rng: np.random.Generator, weave: _Weave, cv: np.ndarray, metal: bool,
           size: int) -> np.ndarray:
    """Ground and motif composed, with the technique's own marks (brocade, stitch shadows, pile, misprint)."""
    tech, tgroup, mask = spec.technique, spec.technique_group, weave.mask
    motif = weave.motif
    if metal:
        shine = _SILVER if "silver" in spec.material and "gilt" not in spec.material else _GOLD
        motif = 0.35 * motif + 0.65 * shine
    m3 = mask[..., None]
    img = (1 - m3) * weave.ground + m3 * motif
    img = img + ((1 - mask) * weave.tex_ground + mask * weave.tex_motif)[..., None]
    if tech == "brocaded_damask":
        # A second colour brocaded into part of the motif.
        brocade = (mask * (cv > 0.1))[..., None]
        img = img * (1 - brocade) + brocade * weave.brocade_colour
    if tgroup == "embroidery":
        # Raised stitches cast a shadow on the cloth beside them.
        shadow = np.roll(np.roll(mask, 1, axis=0), 1, axis=1) * (1 - mask)
        img = img * (1 - 0.3 * shadow[..., None])
    if tgroup == "velvet":
        img = img * (1 + 0.10 * _low_freq_noise(rng, size))[..., None]  # mottled pile
    if tech == "printing":
        # Misregistered printing blocks: one channel's motif shifted by a pixel.
        img[..., 2] = np.roll(img[..., 2], 1, axis=1)
    return img


def _material_finish(spec: ImageSpec, rng: np.random.Generator, img: np.ndarray, mask: np.ndarray, metal: bool,
                     X: np.ndarray, Y: np.ndarray, size: int) -> np.ndarray:
    """How the fibre catches the light: silk sheen, wool fuzz, matte plant fibres, sparkling metal."""
    mgroup = spec.material_group
    if mgroup == "animal_fibre" and spec.material != "wool":
        b = rng.uniform(0, np.pi)
        c = rng.uniform(0.2, 0.8)
        band = np.exp(-(((X / size) * np.cos(b) + (Y / size) * np.sin(b) - c) / 0.16) ** 2)
        img = img + 0.22 * band[..., None]  # silk sheen
    elif mgroup == "animal_fibre":
        img = img * (1 + 0.12 * _low_freq_noise(rng, size, 16))[..., None]  # wool fuzz
        img = 0.8 * img + 0.2 * img.mean()
    elif mgroup == "vegetal_fibre" or spec.material == "paper":
        rows = 1 + 0.09 * rng.standard_normal(size).astype(np.float32)  # slubby yarn
        img = img * rows[:, None, None]
        grey = img.mean(axis=2, keepdims=True)
        img = 0.6 * img + 0.4 * grey  # matte, dull
    elif metal:
        sparkle = (rng.random(mask.shape) < 0.07) * mask
        img = img + 0.45 * sparkle[..., None]
    return img


def _lighting(rng: np.random.Generator, img: np.ndarray, X: np.ndarray, Y: np.ndarray, size: int) -> np.ndarray:
    """Lighting gradient, colour cast and sensor noise; the photograph as uint8."""
    d = rng.uniform(0, 2 * np.pi)
    grad = (X / size - 0.5) * np.cos(d) + (Y / size - 0.5) * np.sin(d)
    light = rng.uniform(0.75, 1.15) * (1 + rng.uniform(0, 0.35) * grad)
    cast = rng.normal(1.0, 0.05, 3).astype(np.float32)
    img = img * light[..., None] * cast
    img = img + rng.normal(0, rng.uniform(0.01, 0.035), img.shape).astype(np.float32)
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)


def render(spec: ImageSpec, rng: np.random.Generator, size: int = SIZE) -> np.ndarray:
    """Draw one photograph of the artifact; returns an (size, size, 3) uint8 array.

    The steps draw from ``rng`` in a fixed order (cues, camera, pattern, colours, cloth, fibre,
    lighting): a seed gives the same picture every time."""
    X, Y = _grid(size)
    cues = _Cues(motif=rng.random() < P_MOTIF, texture=rng.random() < P_TEXTURE,
                 palette=rng.random() < P_PALETTE, material=rng.random() < P_MATERIAL)
    u, v, tu, tv = _camera(rng, X, Y, size)
    mask, cv = _pattern(spec, rng, cues, u, v)
    ground, motif = _colours(spec, rng, cues)
    weave = _weave(spec, ground, motif, mask, tu, tv)
    metal = spec.material_group == "metal_thread" and cues.material
    img = _cloth(spec, rng, weave, cv, metal, size)
    if cues.material:
        img = _material_finish(spec, rng, img, weave.mask, metal, X, Y, size)
    if not cues.texture:
        img = _box_blur(img, 2)  # out of focus: the weave is lost
    return _lighting(rng, img, X, Y, size)
