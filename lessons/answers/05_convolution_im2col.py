"""Answer key for lessons/05_convolution_im2col.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
COL2IM_BY_WINDOW = """
def answer(cols, x_shape, k, stride, padding):
    N, C, H, W = x_shape
    OH = (H + 2 * padding - k) // stride + 1
    OW = (W + 2 * padding - k) // stride + 1
    padded = np.zeros((N, C, H + 2 * padding, W + 2 * padding), cols.dtype)
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                top, left = oh * stride, ow * stride
                column = cols[:, (n * OH + oh) * OW + ow]
                padded[n, :, top:top + k, left:left + k] += column.reshape(C, k, k)
    return padded[:, :, padding:padding + H, padding:padding + W]
"""

# One strided slice per kernel tap (i, j), as the library does.
COL2IM_BY_TAP = """
def answer(cols, x_shape, k, stride, padding):
    N, C, H, W = x_shape
    OH = (H + 2 * padding - k) // stride + 1
    OW = (W + 2 * padding - k) // stride + 1
    padded = np.zeros((N, C, H + 2 * padding, W + 2 * padding), cols.dtype)
    taps = cols.reshape(C, k, k, N, OH, OW).transpose(3, 0, 1, 2, 4, 5)
    for i in range(k):
        for j in range(k):
            padded[:, :, i:i + stride * OH:stride, j:j + stride * OW:stride] += taps[:, :, i, j]
    return padded[:, :, padding:padding + H, padding:padding + W]
"""

ASSIGNS = COL2IM_BY_WINDOW.replace("+= column", "= column")          # overlaps overwritten
KEEPS_PADDING = COL2IM_BY_WINDOW.replace(
    "return padded[:, :, padding:padding + H, padding:padding + W]", "return padded")
CROPS_WRONG_SIDE = COL2IM_BY_WINDOW.replace(
    "return padded[:, :, padding:padding + H, padding:padding + W]", "return padded[:, :, :H, :W]")

ANSWERS = {
    1: {"right": ["34 25", "34, 25", "(34, 25)"],
        "wrong": ["32 24",     # padding forgotten
                  "33 25",     # padding on one side only
                  "33 24",     # the +1 forgotten
                  "34.33 25.33"]},   # no floor
    2: {"right": ["115605504", "64*64*9*56*56", "1.15605504e8"],
        "wrong": ["1806336",   # input channels forgotten: 64 * 9 * 56 * 56
                  "107495424", # padding forgotten: 54 x 54 outputs
                  "7225344"]}, # 64 * 64 * 9 * 196: one column per 4x4 patch, as if stride 4
    3: {"right": [COL2IM_BY_WINDOW, COL2IM_BY_TAP],
        "wrong": [ASSIGNS, KEEPS_PADDING, CROPS_WRONG_SIDE,
                  "lambda cols, x_shape, k, stride, padding: np.zeros(x_shape)"]},
}
