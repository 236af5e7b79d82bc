"""Answer key for lessons/07_pooling.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["0 2 0 0  0 0 0 2  1 1 0 0", "[[0, 2, 0, 0], [0, 0, 0, 2], [1, 1, 0, 0]]"],
        "wrong": ["0 1.5 0.5 0  0 0 0 2  1 0.5 0.5 0",   # ties split evenly, as F.max does
                  "0 1 0 0  0 0 0 1  1 1 0 0",           # winners marked, but not added up
                  "0 1 1 0  0 0 0 2  1 0 1 0",           # the last of tied maxima wins
                  "0 2 0 0  0 0 0 2  1 0 1 0",           # the last maximum wins one tie only
                  "0 1 0 0  0 0 0 1  1 0 0 0"]},         # non-overlapping 2 x 2 windows assumed
    2: {"right": ["4 5", "4, 5", "(4, 5)"],
        "wrong": ["3 4",     # the max pool's padding forgotten
                  "8 10",    # only the max pool
                  "7 9",     # avg_pool2d's stride taken as 1 (or the max pool alone, unpadded)
                  "5 5"]},
    3: {"right": ["def answer(self, gy):\n"
                  "    y, g = self.y[:, :, :, None, :, None], gy[:, :, :, None, :, None]\n"
                  "    return ((self.windows == y) * g).reshape(self.x_shape)\n",
                  "lambda self, gy: np.where(self.windows == self.y[:, :, :, None, :, None], "
                  "gy[:, :, :, None, :, None], 0.0).reshape(self.x_shape)"],
        "wrong": [  # gy / 4 to every pixel: average pooling's backward
                  "lambda self, gy: np.broadcast_to(gy[:, :, :, None, :, None] / 4, "
                  "self.windows.shape).reshape(self.x_shape)",
                  # the winners marked, gy forgotten
                  "lambda self, gy: (self.windows == self.y[:, :, :, None, :, None])"
                  ".astype(float).reshape(self.x_shape)",
                  # gy returned as it is: the shape of y, not of x
                  "lambda self, gy: gy"]},
}
