"""Drawing a synthetic face with Pillow: labels + style -> HWC uint8 image.

The face is drawn ``supersample`` times larger than the output, in face units (origin at the
face centre, 1 unit = half the face height, y down) that the Canvas shifts, scales and rotates
into pixels, over a background, back to front: long hair, shoulders and neck, ears, face, skin
marks, beard, eyes, nose, mouth, hair and hat. The picture is then shrunk with a box filter
(which anti-aliases every edge), blurred, lit and given pixel noise.

Each attribute changes something in its group's region (``face_style.GROUP_REGIONS``); a few
cues are deliberately faint (cheekbones, wrinkles, pointy nose, face shape) and several
shape sizes get random jitter, so the labels are not readable from one pixel.
"""
import functools
import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .attributes import ATTRIBUTES
from .face_style import GROUP_REGIONS, HAIR_COLOURS, mix, shade

FACE_CENTRE = (0.5, 0.47)      # fraction of the image, before the style's shift
FACE_HALF_HEIGHT = 0.25        # fraction of the image side, before the style's scale


UNIT_CIRCLE = [(math.cos(2 * math.pi * k / 20), math.sin(2 * math.pi * k / 20)) for k in range(20)]


class Canvas:
    """An ImageDraw that takes face units and rotates them by the pose angle. Every shape is a
    polygon or polyline (ellipses too), so rotation is exact; a 4th colour channel blends."""

    def __init__(self, image, centre, unit, angle):
        self.draw = ImageDraw.Draw(image, "RGBA")
        self.cx, self.cy = centre
        self.unit = unit
        t = math.radians(angle)
        self.cos, self.sin = math.cos(t) * unit, math.sin(t) * unit

    def p(self, x, y):
        """Face units -> pixels (rotated counter-clockwise by the angle about the centre)."""
        return (self.cx + x * self.cos + y * self.sin, self.cy - x * self.sin + y * self.cos)

    def width(self, w):
        return max(1, int(round(w * self.unit)))

    def polygon(self, points, fill):
        self.draw.polygon([self.p(x, y) for x, y in points], fill=fill)

    def line(self, points, fill, width):
        self.draw.line([self.p(x, y) for x, y in points], fill=fill, width=self.width(width),
                       joint="curve")

    def ellipse(self, x, y, rx, ry, fill=None, outline=None, width=0.0):
        points = [(x + rx * c, y + ry * s) for c, s in UNIT_CIRCLE]
        if fill is not None:
            self.polygon(points, fill)
        if outline is not None:
            self.line(points + points[:1], outline, width)

    def arc(self, x, y, rx, ry, start, end, fill, width):
        """Part of an ellipse; angles in degrees, clockwise from +x (y points down)."""
        self.line(ellipse_points(x, y, rx, ry, start, end, 10), fill, width)


def ellipse_points(x, y, rx, ry, start, end, n):
    """n points on an ellipse from angle ``start`` to ``end`` (degrees; a full turn is open)."""
    full = (end - start) % 360 == 0
    step = math.radians(end - start) / (n if full else n - 1)
    t0 = math.radians(start)
    return [(x + rx * math.cos(t0 + k * step), y + ry * math.sin(t0 + k * step)) for k in range(n)]


def spaced(lo, hi, n):
    """n evenly spaced numbers from lo to hi (a plain-Python linspace)."""
    return [lo + (hi - lo) * k / (n - 1) for k in range(n)]


def face_shape(a, s):
    """Half-width, half-height, jaw squareness and chin taper of the face outline."""
    w = 0.72 + 0.11 * a["Chubby"] - 0.06 * a["Oval_Face"] + 0.03 * a["Male"] + 0.02 * s["face_w"]
    h = 1.0 + 0.04 * a["Oval_Face"] + 0.015 * s["face_h"]
    square = 2.9 if a["Male"] else 2.2
    taper = 0.18 + 0.14 * a["Oval_Face"] - 0.06 * a["Chubby"]
    return w, h, square, taper


def face_outline(w, h, square, taper, n=48):
    """Points of the face outline: an ellipse on top, a squarer superellipse below, narrowed
    toward the chin by ``taper``."""
    points = []
    for k in range(n):
        t = 2 * math.pi * k / n
        c, s = math.cos(t), math.sin(t)
        e = 2.0 / (square if s > 0 else 2.0)
        x = w * math.copysign(abs(c) ** e, c)
        y = h * math.copysign(abs(s) ** e, s)
        if y > 0:
            x *= 1 - taper * (y / h) ** 2
        points.append((x, y))
    return points


def hair_colours(a, s):
    """Main hair colour and (when two hair colours are on) the colour of the streaks."""
    on = [HAIR_COLOURS[name] for name in HAIR_COLOURS if a[name]]
    if not on:
        on = [s["other_hair"]]
    base = shade(on[0], 1 + s["hair_shade"])
    return base, (on[1] if len(on) > 1 else None)


def draw_body(c, a, s, skin, hair, face_w, long_hair):
    """Long hair behind the head, shoulders, neck, and what is worn at the neck."""
    if long_hair:
        c.ellipse(0, 0.35, face_w + 0.32, 1.5, fill=hair)
    c.ellipse(0, 2.45, 1.55, 0.95, fill=s["clothes"])
    neck = 0.4 if a["Male"] else 0.31
    c.polygon([(-neck, 0.5), (neck, 0.5), (neck + 0.05, 1.62), (-neck - 0.05, 1.62)],
              fill=shade(skin, 0.88))
    if a["Wearing_Necktie"] or s["collar"]:
        c.polygon([(-0.46, 1.5), (0, 1.74), (-0.12, 1.98)], fill=(240, 240, 240))
        c.polygon([(0.46, 1.5), (0, 1.74), (0.12, 1.98)], fill=(240, 240, 240))
    if a["Wearing_Necktie"]:
        c.polygon([(-0.07, 1.68), (0.07, 1.68), (0.05, 1.8), (-0.05, 1.8)], fill=s["tie"])
        c.polygon([(-0.05, 1.8), (0.05, 1.8), (0.13, 2.3), (0, 2.45), (-0.13, 2.3)],
                  fill=s["tie"])
    if a["Wearing_Necklace"]:
        chain = [(0.36 * math.cos(t), 1.3 + 0.24 * math.sin(t))
                 for t in spaced(0.15, math.pi - 0.15, 12)]
        c.line(chain, fill=s["metal"], width=0.035)
        c.ellipse(0, 1.56, 0.05, 0.06, fill=s["metal"])


def draw_ears(c, a, s, skin, w):
    """Ears at eye level, with studs and drops for Wearing_Earrings."""
    for side in (-1, 1):
        c.ellipse(side * (w + 0.03), 0.05, 0.11, 0.19, fill=shade(skin, 0.93))
        if a["Wearing_Earrings"]:
            c.ellipse(side * (w + 0.05), 0.3, 0.045, 0.045, fill=s["metal"])
            c.ellipse(side * (w + 0.05), 0.39, 0.03, 0.04, fill=s["metal"])


def draw_skin_marks(c, a, s, skin, w, h):
    """Blemishes (not Attractive), wrinkles (not Young), cheek colour and cheekbones."""
    if not a["Attractive"]:
        for x, y in s["blemishes"]:
            c.ellipse(x * w / 0.72, y, 0.025, 0.025, fill=shade(skin, 0.72) + (200,))
    if not a["Young"]:
        line = shade(skin, 0.7) + (int(210 * s["wrinkles"]),)
        for y in (-0.56, -0.47):
            c.line([(-0.3, y), (0, y - 0.02), (0.3, y)], fill=line, width=0.025)
        for side in (-1, 1):
            c.line([(side * 0.2, 0.3), (side * 0.3, 0.47), (side * 0.32, 0.62)], line, 0.025)
    if a["High_Cheekbones"]:
        for side in (-1, 1):
            c.ellipse(side * 0.46, 0.1, 0.16, 0.07, fill=shade(skin, 1.12) + (150,))
            c.arc(side * 0.44, 0.18, 0.2, 0.12, 20, 160, shade(skin, 0.82) + (150,), 0.03)
    if a["Rosy_Cheeks"]:
        for side in (-1, 1):
            c.ellipse(side * 0.45, 0.28, 0.15 + 0.01 * s["cheek"], 0.1, fill=(230, 80, 90, 110))


def draw_beard(c, a, s, skin, beard, outline, w, h):
    """Stubble, full beard, goatee, sideburns, double chin: the lower face."""
    lower = [(x, y) for x, y in outline if y >= 0.3]
    lower.sort(key=lambda p: math.atan2(p[1] - 0.3, p[0]))
    if a["Double_Chin"]:
        c.ellipse(0, h - 0.02, 0.36, 0.13, fill=shade(skin, 0.95))
        c.arc(0, h + 0.02, 0.3, 0.1, 20, 160, shade(skin, 0.7), 0.03)
    if a["5_o_Clock_Shadow"]:
        c.polygon([(w * 0.92, 0.3)] + lower + [(-w * 0.92, 0.3)], fill=(60, 60, 75, 45))
        for x, y in s["blemishes"] * 3:                 # stubble dots, fixed per style
            c.ellipse(x * 0.9 * w / 0.72, 0.45 + abs(y) * 0.6, 0.018, 0.018, fill=(50, 50, 60, 140))
    if not a["No_Beard"]:
        inner = [(0.3 * math.cos(t), 0.58 + 0.2 * math.sin(t)) for t in spaced(math.pi, 0, 9)]
        c.polygon([(w * 0.96, 0.22)] + lower + [(-w * 0.96, 0.22)] + inner, fill=beard + (235,))
    if a["Goatee"]:
        c.polygon([(-0.15, 0.76), (0.15, 0.76), (0.1, h + 0.1), (0, h + 0.16), (-0.1, h + 0.1)],
                  fill=shade(beard, 0.85))
    if a["Sideburns"]:
        for side in (-1, 1):
            x = side * (w - 0.06)
            c.polygon([(x - 0.06, -0.35), (x + 0.06, -0.35), (x + 0.05, 0.32), (x - 0.05, 0.3)],
                      fill=beard)


def draw_eyes(c, a, s, skin, hair, makeup):
    """Eyes (narrow or not; larger and level when Attractive), eye shadow (Heavy_Makeup), bags,
    eyebrows and glasses."""
    ry = (0.042 if a["Narrow_Eyes"] else 0.072) + 0.006 * s["eye"]
    rx = 0.13 + 0.025 * a["Attractive"] + 0.008 * s["eye"]
    lift = 0.0 if a["Attractive"] else 0.025          # slight asymmetry
    for side in (-1, 1):
        x, y = side * 0.33, -0.08 + (lift if side > 0 else 0)
        if makeup:
            c.ellipse(x, y - 0.07, rx + 0.03, 0.09, fill=s["eyeshadow"] + (170,))
        if a["Bags_Under_Eyes"]:
            c.arc(x, y + 0.06, rx * 0.9, 0.07, 20, 160, shade(skin, 0.6), 0.045)
            c.arc(x, y + 0.1, rx * 0.8, 0.06, 30, 150, shade(skin, 0.75), 0.03)
        c.ellipse(x, y, rx, ry, fill=(245, 245, 240), outline=(40, 30, 30),
                  width=0.035 if makeup else 0.015)
        r = min(0.06, ry * 0.95)
        c.ellipse(x, y, r, r, fill=s["iris"])
        c.ellipse(x, y, r * 0.45, r * 0.45, fill=(10, 10, 10))
        draw_brow(c, a, s, side, hair)
    if a["Eyeglasses"]:
        frame, lens = s["glasses"], (40, 40, 60, 110) if s["tinted"] else None
        for side in (-1, 1):
            c.ellipse(side * 0.34, -0.07, 0.21, 0.16, fill=lens, outline=frame, width=0.04)
        c.line([(-0.13, -0.1), (0.13, -0.1)], frame, 0.035)


def draw_brow(c, a, s, side, hair):
    """An eyebrow: arched (raised middle) or flat, bushy (thick) or thin."""
    peak = 0.09 if a["Arched_Eyebrows"] else 0.025
    thick = (0.075 if a["Bushy_Eyebrows"] else 0.035) + 0.005 * s["brow"]
    y0 = -0.27
    points = [(side * 0.14, y0), (side * 0.3, y0 - peak), (side * 0.5, y0 + 0.03)]
    c.line(points, fill=shade(hair, 0.8) if hair[0] < 150 else shade(hair, 0.6), width=thick)


def draw_nose(c, a, s, skin):
    """Bridge, tip (pointed or round) and nostrils; all of it larger for Big_Nose."""
    dark = shade(skin, 0.72)
    big = 1.45 if a["Big_Nose"] else 1.0
    half = (0.08 + 0.005 * s["nose"]) * big
    tip = 0.3 + 0.04 * (big - 1)
    c.line([(-0.03, -0.02), (-0.05, tip - 0.08)], fill=shade(skin, 0.85), width=0.025)
    if a["Pointy_Nose"]:                                    # a sharp tip hanging lower
        c.polygon([(-half * 0.7, tip - 0.12), (half * 0.7, tip - 0.12), (0, tip + 0.12)],
                  fill=shade(skin, 1.1))
        c.line([(-half * 0.8, tip - 0.08), (0, tip + 0.12), (half * 0.8, tip - 0.08)],
               shade(skin, 0.6), 0.035)
    else:                                                    # a round tip
        c.ellipse(0, tip - 0.02, half * 0.85, 0.065 * big, fill=shade(skin, 1.05))
        c.arc(0, tip - 0.02, half * 0.85, 0.065 * big, 20, 160, dark, 0.025)
    for side in (-1, 1):
        c.ellipse(side * half * 0.8, tip + 0.01, 0.035 * big, 0.022 * big, fill=dark)


def draw_mouth(c, a, s, skin, beard):
    """Lips (big, lipstick), smile, open mouth, and the moustache above them."""
    width = 0.23 + 0.05 * a["Smiling"] + 0.01 * s["mouth_w"]
    curve = 0.12 if a["Smiling"] else 0.0
    big = 1.8 if a["Big_Lips"] else 1.0
    upper, lower = 0.035 * big + 0.004 * s["lips"], 0.05 * big + 0.005 * s["lips"]
    gap = 0.05 if a["Mouth_Slightly_Open"] else 0.0
    colour = s["lipstick"] if a["Wearing_Lipstick"] else mix(shade(skin, 0.8), (170, 80, 80), 0.4)
    y = 0.58

    def mid(x):
        """Height of the lips' meeting line at x: y in the middle, raised by ``curve`` at the
        corners when smiling."""
        return y - curve * (x / width) ** 2

    xs = spaced(-width, width, 9)
    top = [(x, mid(x) - gap / 2 - upper * (1 - (x / width) ** 2)) for x in xs]
    bottom = [(x, mid(x) + gap / 2 + lower * (1 - (x / width) ** 2)) for x in xs[::-1]]
    c.polygon(top + bottom, fill=colour)
    if gap:
        inside = [(x, mid(x) - gap / 2) for x in xs] + [(x, mid(x) + gap / 2) for x in xs[::-1]]
        c.polygon(inside, fill=(235, 235, 225) if a["Smiling"] else (60, 20, 25))
    if a["Smiling"]:                                         # smile lines at the corners
        for side in (-1, 1):
            c.arc(side * (width + 0.02), y - curve, 0.06, 0.09, 270 if side > 0 else 90,
                  450 if side > 0 else 270, shade(skin, 0.7), 0.025)
    if a["Mustache"]:
        c.polygon([(-width - 0.03, y - 0.03 - curve * 0.5), (0, y - 0.15), (width + 0.03,
                   y - 0.03 - curve * 0.5), (0, y - 0.07 - upper)], fill=beard)


def draw_hair(c, a, s, hair, streak, w, long_hair):
    """Hair on top of the head: cap, hairline (receding or not), bangs, texture; or a bald
    crown with hair only at the sides; then the hat."""
    top = -0.56 - (0.16 if a["Receding_Hairline"] else 0.0)
    if a["Bald"]:
        for side in (-1, 1):
            c.ellipse(side * (w - 0.02), -0.2, 0.09, 0.28, fill=hair)
    else:
        cap = [((w + 0.07) * math.cos(t), -0.2 + 1.02 * math.sin(t))
               for t in spaced(math.pi * 1.04, math.pi * 1.96, 15)]
        temple = -0.76 if a["Receding_Hairline"] else -0.5
        line = [(w * 0.85, -0.1), (w * 0.6, temple), (0.2, top), (0, top + 0.04), (-0.2, top),
                (-w * 0.6, temple), (-w * 0.85, -0.1)]
        c.polygon(cap + line, fill=hair)
        if a["Bangs"]:
            xs = spaced(w * 0.8, -w * 0.8, 9)
            fringe = [(-w * 0.8, -0.75), (w * 0.8, -0.75)]
            fringe += [(x, -0.36 - 0.05 * (k % 2)) for k, x in enumerate(xs)]  # jagged edge
            c.polygon(fringe, fill=hair)
        draw_hair_texture(c, a, hair, streak, w, long_hair)
    if a["Wearing_Hat"]:
        crown = [(-w - 0.02, -0.62), (-w + 0.06, -1.2)] + ellipse_points(
            0, -1.2, w - 0.06, 0.16, 180, 360, 9) + [(w - 0.06, -1.2), (w + 0.02, -0.62)]
        c.polygon(crown, fill=s["hat"])
        c.ellipse(0, -0.64, w + 0.36, 0.11, fill=shade(s["hat"], 0.8))
        c.line([(-w + 0.02, -0.78), (w - 0.02, -0.78)], shade(s["hat"], 0.55), 0.08)


def draw_hair_texture(c, a, hair, streak, w, long_hair):
    """Strands over the hair: straight lines, wavy lines, or (neither) short curls."""
    strand = streak or (shade(hair, 0.7) if sum(hair) > 240 else shade(hair, 1.8))
    thick = 0.05 if streak else 0.025
    for k in range(7):
        x0 = -w * 0.72 + k * w * 0.24
        crown = -0.2 - 1.02 * math.sqrt(1 - (x0 / (w + 0.07)) ** 2) + 0.1   # just inside the cap
        if a["Wavy_Hair"]:
            pts = [(x0 + 0.06 * math.sin(9 * y), y) for y in spaced(crown, -0.62, 6)]
        elif a["Straight_Hair"]:
            pts = [(x0 * 0.9, crown), (x0, -0.62)]
        else:
            c.arc(x0, (crown - 0.6) / 2 + 0.06 * (k % 2), 0.06, 0.05, 0, 300, strand, thick)
            continue
        c.line(pts, strand, thick)
    for side in (-1, 1) if long_hair else ():            # strands in the long hair
        x = side * (w + 0.12)
        if a["Wavy_Hair"]:
            c.line([(x + 0.06 * math.sin(5 * y), y) for y in spaced(-0.5, 1.4, 10)], strand, thick)
        elif a["Straight_Hair"]:
            c.line([(x, -0.5), (x, 1.4)], strand, thick)


@functools.lru_cache(maxsize=8)
def vertical_ramp(size):
    """A size x size grey image going from 0 at the top row to 255 at the bottom row."""
    return Image.linear_gradient("L").resize((size, size))


def background(style, size):
    """A vertical gradient between two colours with a few translucent blobs."""
    top, bottom = (Image.new("RGB", (size, size), colour) for colour in style["background"])
    image = Image.composite(bottom, top, vertical_ramp(size))
    c = Canvas(image, (size / 2, size / 2), FACE_HALF_HEIGHT * size, 0.0)
    for x, y, r, colour in style["shapes"]:
        c.ellipse(x, y, r, r, fill=colour)
    return image


def draw_face(labels, style, image_size=64, supersample=3):
    """Render one face: ``labels`` a 0/1 vector of the 40 attributes, ``style`` from
    ``face_style.sample_style``. Returns an (image_size, image_size, 3) uint8 array."""
    a = {name: bool(v) for name, v in zip(ATTRIBUTES, labels)}
    s = style
    size = image_size * supersample
    centre = ((FACE_CENTRE[0] + s["shift"][0]) * size, (FACE_CENTRE[1] + s["shift"][1]) * size)
    image = background(s, size)
    c = Canvas(image, centre, FACE_HALF_HEIGHT * size * s["scale"], s["angle"])

    skin = mix(s["skin"], (252, 240, 234), 0.6) if a["Pale_Skin"] else s["skin"]
    hair, streak = hair_colours(a, s)
    beard = shade(hair, 0.85)
    w, h, square, taper = face_shape(a, s)
    outline = face_outline(w, h, square, taper)
    long_hair = not a["Bald"] and s["hair_length"] < (0.07 if a["Male"] else 0.85)

    draw_body(c, a, s, skin, hair, w, long_hair)
    draw_ears(c, a, s, skin, w)
    c.polygon(outline, fill=skin)
    draw_skin_marks(c, a, s, skin, w, h)
    draw_beard(c, a, s, skin, beard, outline, w, h)
    draw_eyes(c, a, s, skin, hair, makeup=a["Heavy_Makeup"])
    draw_nose(c, a, s, skin)
    draw_mouth(c, a, s, skin, beard)
    draw_hair(c, a, s, hair, streak, w, long_hair)

    if supersample > 1:
        image = image.reduce(supersample)          # box filter: the anti-aliasing step
    radius = ((1.4 if a["Blurry"] else 0.0) + s["blur"]) * image_size / 64   # pixels at 64 px
    if radius > 0:
        image = image.filter(ImageFilter.GaussianBlur(radius))
    return finish(np.asarray(image, dtype=np.float32), s)


def finish(pixels, style):
    """Lighting (a brightness gradient in a random direction), then Gaussian pixel noise."""
    n = pixels.shape[0]
    x = np.linspace(-1, 1, n, dtype=np.float32)
    ramp = math.cos(style["light_angle"]) * x[None, :] + math.sin(style["light_angle"]) * x[:, None]
    pixels = pixels * (style["brightness"] * (1 + style["light"] * ramp))[..., None]
    if style["noise"] > 0:
        noise = np.random.default_rng(style["noise_seed"]).standard_normal(pixels.shape,
                                                                            np.float32)
        pixels = pixels + style["noise"] * noise
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)


def region_box(region, image_size, style=None):
    """A face-unit box (x0, y0, x1, y1) in pixels of an ``image_size`` image for a face drawn
    with ``style``'s shift and scale (rotation ignored); the neutral pose if style is None."""
    shift, scale = ((0.0, 0.0), 1.0) if style is None else (style["shift"], style["scale"])
    unit = FACE_HALF_HEIGHT * scale * image_size
    cx, cy = (FACE_CENTRE[0] + shift[0]) * image_size, (FACE_CENTRE[1] + shift[1]) * image_size
    x0, y0, x1, y1 = region
    return (cx + x0 * unit, cy + y0 * unit, cx + x1 * unit, cy + y1 * unit)


def part_regions(style, image_size, regions=GROUP_REGIONS):
    """Where each group's cues are drawn on one face: {group: (image_size, image_size) bool
    mask}, True at the pixels whose centre lies in the group's face-unit box (``regions``,
    default ``face_style.GROUP_REGIONS``; Holistic has none) posed as the face is drawn with
    ``style``: shifted, scaled and rotated by its angle (``Canvas.p`` inverted)."""
    unit = FACE_HALF_HEIGHT * style["scale"] * image_size
    cx = (FACE_CENTRE[0] + style["shift"][0]) * image_size
    cy = (FACE_CENTRE[1] + style["shift"][1]) * image_size
    t = math.radians(style["angle"])
    py, px = np.mgrid[:image_size, :image_size] + 0.5
    dx, dy = px - cx, py - cy
    x = (dx * math.cos(t) - dy * math.sin(t)) / unit
    y = (dx * math.sin(t) + dy * math.cos(t)) / unit
    return {group: (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
            for group, (x0, y0, x1, y1) in regions.items()}
