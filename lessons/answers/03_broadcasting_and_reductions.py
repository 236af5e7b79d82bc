"""Answer key for lessons/03_broadcasting_and_reductions.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all.
"""
ANSWERS = {
    1: {"right": ["12", "12.0", "4*3"],
        "wrong": ["60",   # every element of x + b
                  "4",    # only the added leading axis
                  "3"]},  # only the stretched axis
    2: {"right": ["def answer(g, shape):\n"
                  "    lead = g.ndim - len(shape)\n"
                  "    g = g.sum(axis=tuple(range(lead)))\n"
                  "    stretched = tuple(i for i, n in enumerate(shape) if n == 1)\n"
                  "    return g.sum(axis=stretched, keepdims=True)\n",
                  "lambda g, shape: g.sum(axis=tuple(range(g.ndim - len(shape))))"
                  ".sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)"],
        "wrong": ["lambda g, shape: g.sum(axis=0)",
                  # keepdims forgotten: (3, 1) comes out as (3,)
                  "lambda g, shape: g.sum(axis=tuple(range(g.ndim - len(shape)))).sum("
                  "axis=tuple(i for i, n in enumerate(shape) if n == 1))",
                  # right shape, wrong values: the first copy taken instead of the sum of all
                  "lambda g, shape: g.sum(axis=tuple(range(g.ndim - len(shape))))"
                  "[tuple(slice(0, 1) if n == 1 else slice(None) for n in shape)]"]},
    3: {"right": ["lambda self, gy: (gy if self.keepdims else np.expand_dims(gy, self.axis)) "
                  "* 2 * self.centred / self.n"],
        "wrong": ["lambda self, gy: gy * 2 * self.centred / self.n",   # reduced axis not put back
                  "lambda self, gy: (gy if self.keepdims else np.expand_dims(gy, self.axis)) "
                  "* 2 * self.centred"]},                               # 1/n forgotten
}
