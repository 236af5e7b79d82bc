"""Whether operations record a graph: ``no_grad``, ``set_grad_enabled``, ``is_grad_enabled``.

    with mfa.no_grad():          # or ``with mfa.no_grad:``; evaluation and weight updates
        y = model(x)             # y.requires_grad is False, nothing is kept for backward
"""
import functools

_grad_enabled = [True]


class set_grad_enabled:
    """``set_grad_enabled(False)`` turns graph building off until changed; as a context
    (``with set_grad_enabled(mode):``) the previous mode comes back at the end, as in PyTorch."""

    def __init__(self, mode):
        self.previous = _grad_enabled[0]
        _grad_enabled[0] = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _grad_enabled[0] = self.previous


class _NoGrad:
    """Inside ``with no_grad():`` (or ``with no_grad:``) operations build no graph, for
    evaluation and updates; ``@no_grad`` or ``@no_grad()`` does the same for a function."""

    def __init__(self):
        self._previous = []  # a stack, so that the same object can be nested

    def __enter__(self):
        self._previous.append(_grad_enabled[0])
        _grad_enabled[0] = False
        return self

    def __exit__(self, *exc):
        _grad_enabled[0] = self._previous.pop()

    def __call__(self, fn=None):
        if fn is None:
            return _NoGrad()

        @functools.wraps(fn)
        def without_grad(*args, **kwargs):
            with _NoGrad():
                return fn(*args, **kwargs)
        return without_grad

    def __repr__(self):
        return "minifaceattr.no_grad"


no_grad = _NoGrad()


def is_grad_enabled():
    return _grad_enabled[0]
