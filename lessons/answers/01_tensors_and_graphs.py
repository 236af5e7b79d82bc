"""Answer key for lessons/01_tensors_and_graphs.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["-12 10", "(-12, 10)", "-12,10"],
        "wrong": ["-6 10",      # x's direct use in v = u * x forgotten
                  "-12 9",      # y's direct use in L = v + y forgotten
                  "10 -12"]},   # the two swapped
    2: {"right": ["L r q p a b", "L, r, q, p, b, a"],
        "wrong": ["L r p q a b",   # p before q, though q is computed from p
                  "a b p q r L",   # the forward order
                  "L r q p a"]},   # b missing
    3: {"right": ["lambda self, gy: gy / (1 + np.exp(-self.x))",
                  "def answer(self, gy):\n"
                  "    sigmoid = np.exp(self.x - np.logaddexp(0, self.x))\n"
                  "    return gy * sigmoid\n"],
        "wrong": ["lambda self, gy: gy * np.exp(self.x)",          # the chain rule's outer part missing
                  "lambda self, gy: gy / (1 + np.exp(self.x))",    # a sign slip
                  "lambda self, gy: 1 / (1 + np.exp(-self.x))"]},  # gy forgotten
}
