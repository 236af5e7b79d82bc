"""Answer key for lessons/02_gradient_checking.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all.
"""
ANSWERS = {
    1: {"right": ["0.11", "(3 * 2**-11) ** (1/3)", "0.2"],
        "wrong": ["0.022",     # sqrt(u): the forward difference's best step
                  "1e-5",      # float64's best step, read off the lesson's table
                  "0.5"]},
    2: {"right": ["lambda self, gy: gy / (1 + np.abs(self.x)) ** 2"],
        "wrong": ["lambda self, gy: gy / (1 + self.x) ** 2",       # right for x > 0 only
                  "lambda self, gy: gy / (1 + np.abs(self.x))"]},
    3: {"right": ["-2", "0.5 -3 2", "-1.01"],
        "wrong": ["0.5 2 -0.3", "-1 1", "3"]},   # never below -1: the broken branch is x < -1
}
