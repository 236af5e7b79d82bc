"""Everything about a synthetic face that is *not* an attribute: pose, colours, lighting,
background, noise, and small random differences in the shape of each feature.

A style is a plain dict drawn from a generator. ``drawing.draw_face(labels, style)`` turns
labels plus a style into an image, so the same style with one attribute switched shows exactly
what that attribute's cue looks like.
"""
import numpy as np

SKIN_LIGHT = (246, 214, 190)
SKIN_DARK = (112, 74, 52)

HAIR_COLOURS = {                       # the four CelebA hair colours, in drawing priority
    "Black_Hair": (30, 26, 26),
    "Brown_Hair": (110, 68, 38),
    "Blond_Hair": (226, 194, 112),
    "Gray_Hair": (178, 178, 182),
}
OTHER_HAIR = ((150, 62, 34), (188, 112, 70), (84, 58, 44))   # auburn, copper, dark ash
LIPSTICKS = ((204, 24, 44), (182, 30, 92), (224, 60, 84), (150, 22, 54))
EYESHADOWS = ((120, 70, 140), (70, 50, 40), (60, 90, 150), (150, 90, 60))
IRISES = ((90, 60, 35), (60, 40, 25), (70, 110, 150), (80, 120, 80))
METALS = ((226, 186, 60), (210, 210, 220))                   # gold, silver


def _colour(rng, low=40, high=220, grey=0.0):
    """A random colour, pulled toward mid grey by ``grey`` (0..1) to mute it."""
    c = rng.integers(low, high, size=3) * (1 - grey) + 128 * grey
    return tuple(int(v) for v in c)


def _pick(rng, options):
    return options[int(rng.integers(len(options)))]


def mix(a, b, t):
    """The colour a fraction t of the way from colour a to colour b."""
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


def shade(colour, factor):
    """A colour scaled by ``factor`` (darker below 1, lighter above), clipped to 0..255."""
    return tuple(max(0, min(255, int(c * factor))) for c in colour)


def sample_style(rng):
    """A random style: a dict of plain numbers and colour tuples (see ``neutral_style``)."""
    u = rng.uniform
    style = {
        "shift": (u(-0.05, 0.05), u(-0.04, 0.04)),   # face offset, fraction of the image
        "scale": u(0.9, 1.08),
        "angle": u(-10.0, 10.0),                      # degrees, counter-clockwise
        "skin": mix(SKIN_LIGHT, SKIN_DARK, rng.beta(1.4, 1.8)),
        "hair_shade": u(-0.12, 0.12),
        "hair_length": u(0.0, 1.0),
        "other_hair": _pick(rng, OTHER_HAIR),
        "iris": _pick(rng, IRISES),
        "lipstick": _pick(rng, LIPSTICKS),
        "eyeshadow": _pick(rng, EYESHADOWS),
        "clothes": _colour(rng),
        "collar": bool(rng.random() < 0.3),
        "hat": _colour(rng, 20, 230),
        "glasses": _colour(rng, 0, 90),
        "tinted": bool(rng.random() < 0.2),
        "tie": _colour(rng, 30, 230),
        "metal": _pick(rng, METALS),
        "background": (_colour(rng, 30, 240, 0.3), _colour(rng, 30, 240, 0.3)),
        "shapes": [(u(-2, 2), u(-2, 2), u(0.3, 1.2),                # x, y, radius, RGBA
                    _colour(rng, 30, 240, 0.3) + (int(u(40, 120)),))
                   for _ in range(int(rng.integers(0, 4)))],
        "light_angle": u(0.0, 2 * np.pi),
        "light": u(0.0, 0.28),                        # strength of the lighting gradient
        "brightness": u(0.85, 1.12),
        "noise": u(1.5, 6.0),                         # pixel noise sd, in 0..255 units
        "noise_seed": int(rng.integers(2**31)),
        "blur": u(0.0, 0.45),                         # pixels at the output size
        "blemishes": [(u(-0.55, 0.55), u(-0.45, 0.75)) for _ in range(6)],
        "wrinkles": u(0.6, 1.0),
    }
    for part in ("face_w", "face_h", "eye", "brow", "nose", "lips", "mouth_w", "cheek"):
        style[part] = float(np.clip(rng.standard_normal(), -2.5, 2.5))   # shape jitter
    return style


def neutral_style():
    """A style with no pose change, noise, blur, lighting or shape jitter, a mid skin tone and
    a plain background: for figures and tests that show one cue at a time."""
    style = sample_style(np.random.default_rng(0))
    style.update(shift=(0.0, 0.0), scale=1.0, angle=0.0, skin=mix(SKIN_LIGHT, SKIN_DARK, 0.3),
                 hair_shade=0.0, hair_length=0.5, collar=False, tinted=False, shapes=[],
                 background=((200, 205, 215), (170, 178, 190)), light=0.0, brightness=1.0,
                 noise=0.0, blur=0.0, wrinkles=1.0)
    for part in ("face_w", "face_h", "eye", "brow", "nose", "lips", "mouth_w", "cheek"):
        style[part] = 0.0
    return style


# Where each group's cues are drawn, in face units (origin at the face centre, 1 unit = half
# the face height, y pointing down): (x_min, y_min, x_max, y_max). Holistic cues are anywhere.
GROUP_REGIONS = {
    "Hair": (-1.45, -2.0, 1.45, 1.95),
    "Eyes": (-1.05, -0.5, 1.05, 0.2),
    "Nose": (-0.3, -0.15, 0.3, 0.48),
    "Cheek": (-1.1, -0.5, 1.1, 0.6),
    "Mouth": (-0.85, 0.25, 0.85, 1.05),
    "Chin": (-1.0, 0.15, 1.0, 1.35),
    "Neck": (-0.9, 0.95, 0.9, 2.2),
}
