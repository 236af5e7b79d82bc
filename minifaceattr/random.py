"""The library's one random-number generator (dropout masks, initialisers, shuffling).

``manual_seed(s)`` makes a run repeatable; ``get_state`` / ``set_state`` save and restore
it exactly, which is what resuming a training run needs.
"""
import numpy as np

_rng = [np.random.default_rng(0)]


def manual_seed(seed):
    """Reset the generator to a fixed seed."""
    _rng[0] = np.random.default_rng(seed)


def get_rng():
    """The current ``numpy.random.Generator``."""
    return _rng[0]


def get_state():
    """The generator's state as a JSON-friendly dict."""
    return _rng[0].bit_generator.state


def set_state(state):
    _rng[0].bit_generator.state = state
