"""Image transforms, torchvision-style, on NumPy arrays.

Images go in as (H, W, 3) uint8 arrays (RGB; a PIL image is accepted too) and stay so through
the geometric and colour transforms; ``ToArray`` turns them into the network's (3, H, W)
float32 in [0, 1], and ``Normalize`` subtracts a mean and divides by a standard deviation.

Random transforms take the generator as an argument: ``t(image, rng)``. The DataLoader passes
each sample its own generator (from the loader's seed, the epoch and the sample's index), so
a run is reproducible and does not depend on the number of workers. Called without ``rng``
they use their own generator if built with ``seed=``, else the library's generator
(``minifaceattr.manual_seed`` seeds it).

    train_tf = Compose([RandomCrop(56, padding=4), RandomHorizontalFlip(),
                        ToArray(), Normalize()])
    x = train_tf(image, np.random.default_rng(0))      # (3, 56, 56) float32
"""
import numpy as np
from PIL import Image

from ..random import get_rng

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _array(image):
    return np.asarray(image) if isinstance(image, Image.Image) else image


def _pair(size):
    return (size, size) if isinstance(size, int) else tuple(size)


class Transform:
    """Base class. ``__call__(image, rng=None)``; deterministic transforms ignore ``rng``.
    The generator used is ``rng`` if given, else the one made from ``seed`` at construction,
    else the library's."""

    rng = None

    def seed(self, seed):
        """Give this transform its own generator (None: use the library's)."""
        self.rng = None if seed is None else np.random.default_rng(seed)

    def __call__(self, image, rng=None):
        if rng is None:
            rng = self.rng if self.rng is not None else get_rng()
        return self.apply(_array(image), rng)

    def apply(self, image, rng):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "rng")
        return f"{type(self).__name__}({args})"


class Compose(Transform):
    """Apply transforms in order. A generator given to the call is passed to each; without
    one, each transform uses its own (its ``seed``) or the library's."""

    def __init__(self, transforms, seed=None):
        self.transforms = list(transforms)
        self.seed(seed)

    def __call__(self, image, rng=None):
        rng = rng if rng is not None else self.rng
        image = _array(image)
        for t in self.transforms:
            image = t(image, rng)
        return image


class Resize(Transform):
    """Resize to ``size``: an int scales the shorter side to it (keeping the aspect ratio), a
    pair is (height, width). Uses Pillow's anti-aliased bilinear filter."""

    def __init__(self, size):
        self.size = size

    def apply(self, image, rng):
        h, w = image.shape[:2]
        if isinstance(self.size, int):
            scale = self.size / min(h, w)
            out_h, out_w = max(1, round(h * scale)), max(1, round(w * scale))
        else:
            out_h, out_w = self.size
        if (out_h, out_w) == (h, w):
            return image
        return np.asarray(Image.fromarray(image).resize((out_w, out_h), Image.BILINEAR))


def crop(image, top, left, height, width):
    """image[top:top+height, left:left+width] (a view)."""
    return image[top:top + height, left:left + width]


class CenterCrop(Transform):
    """The central (height, width) window."""

    def __init__(self, size):
        self.size = _pair(size)

    def apply(self, image, rng):
        (h, w), (ch, cw) = image.shape[:2], self.size
        if ch > h or cw > w:
            raise ValueError(f"crop {self.size} is larger than the image {(h, w)}")
        return crop(image, (h - ch) // 2, (w - cw) // 2, ch, cw)


class CenterSquareCrop(Transform):
    """The central square of side min(height, width), whatever the image's size: 178×178 of
    an official 178×218 CelebA face, 89×89 of a half-size copy (a view)."""

    def apply(self, image, rng):
        h, w = image.shape[:2]
        side = min(h, w)
        return crop(image, (h - side) // 2, (w - side) // 2, side, side)


class RandomCrop(Transform):
    """A random (height, width) window, after padding every side with ``padding`` zeros."""

    def __init__(self, size, padding=0, seed=None):
        self.size, self.padding = _pair(size), padding
        self.seed(seed)

    def apply(self, image, rng):
        if self.padding:
            p = self.padding
            image = np.pad(image, ((p, p), (p, p)) + ((0, 0),) * (image.ndim - 2))
        (h, w), (ch, cw) = image.shape[:2], self.size
        if ch > h or cw > w:
            raise ValueError(f"crop {self.size} is larger than the (padded) image {(h, w)}")
        top, left = rng.integers(h - ch + 1), rng.integers(w - cw + 1)
        return crop(image, top, left, ch, cw)


def hflip(image):
    """Mirror left-right (a view)."""
    return image[:, ::-1]


class RandomHorizontalFlip(Transform):
    """Mirror left-right with probability ``p``."""

    def __init__(self, p=0.5, seed=None):
        self.p = p
        self.seed(seed)

    def apply(self, image, rng):
        return hflip(image) if rng.random() < self.p else image


class RandomRotation(Transform):
    """Rotate by an angle drawn uniformly from [-degrees, degrees] (counter-clockwise, about
    the centre, bilinear), filling the corners with ``fill``."""

    def __init__(self, degrees, fill=0, seed=None):
        self.degrees, self.fill = degrees, fill
        self.seed(seed)

    def apply(self, image, rng):
        angle = rng.uniform(-self.degrees, self.degrees)
        fill = (self.fill,) * 3 if isinstance(self.fill, int) else tuple(self.fill)
        rotated = Image.fromarray(image).rotate(angle, resample=Image.BILINEAR, fillcolor=fill)
        return np.asarray(rotated)


class ColorJitter(Transform):
    """Random brightness, contrast and saturation, in that order. Each factor is drawn from
    [1 - x, 1 + x]: brightness scales the pixels, contrast scales their distance from the mean
    grey level, saturation their distance from each pixel's own grey level."""

    def __init__(self, brightness=0.0, contrast=0.0, saturation=0.0, seed=None):
        self.brightness, self.contrast, self.saturation = brightness, contrast, saturation
        self.seed(seed)

    def apply(self, image, rng):
        x = image.astype(np.float32)
        b, c, s = (rng.uniform(1 - v, 1 + v) for v in (self.brightness, self.contrast,
                                                      self.saturation))
        x = x * b
        grey = x @ np.array([0.299, 0.587, 0.114], np.float32)       # (H, W) luma
        x = (x - grey.mean()) * c + grey.mean()
        grey = x @ np.array([0.299, 0.587, 0.114], np.float32)
        x = (x - grey[..., None]) * s + grey[..., None]
        return np.clip(x + 0.5, 0, 255).astype(np.uint8)


class ToArray(Transform):
    """(H, W, 3) uint8 -> (3, H, W) float32 in [0, 1]."""

    def apply(self, image, rng):
        if image.dtype != np.uint8 or image.ndim != 3:
            raise TypeError(f"ToArray expects an (H, W, C) uint8 image, got {image.dtype} "
                            f"{image.shape}")
        return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / 255.0


class Normalize(Transform):
    """(x - mean) / std per channel of a (C, H, W) float array; ImageNet's by default."""

    def __init__(self, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.mean = np.asarray(mean, np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(-1, 1, 1)

    def apply(self, image, rng):
        return (image - self.mean) / self.std

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"
