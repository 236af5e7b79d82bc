"""Answer key for lessons/06_batch_norm.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["1.6878", "3 - 2 * 0.9**4", "1.68780"],
        "wrong": ["1.0317",     # the start value forgotten: 3 (1 - 0.9^4)
                  "2.9998",     # momentum taken as the old estimate's weight
                  "2.2",        # 1 + 4 * 0.1 * 3: no decay
                  "3",          # as if the estimate had settled
                  "1.69"]},     # rounded to 3 digits
    2: {"right": ["3.5 1.366667", "3.5, 0.9+0.1*14/3", "7/2 41/30"],
        "wrong": ["4.666667 1.366667",   # the unbiased variance used to normalise
                  "3.5 1.25",            # the biased variance in the running estimate
                  "3.5 4.666667",        # running_var replaced, not averaged
                  "3 1.366667",          # the batch mean given instead of its variance
                  "3.5 1.37"]},          # rounded to 3 digits
    3: {"right": ["lambda self, gy: self.inv_std * (gy - gy.mean(axis=1, keepdims=True) "
                  "- self.xhat * (gy * self.xhat).mean(axis=1, keepdims=True))",
                  "def answer(self, gy):\n"
                  "    m = gy.shape[1]\n"
                  "    sum_gy = gy.sum(axis=1, keepdims=True)\n"
                  "    sum_gy_xhat = (gy * self.xhat).sum(axis=1, keepdims=True)\n"
                  "    return self.inv_std / m * (m * gy - sum_gy - self.xhat * sum_gy_xhat)\n"],
        "wrong": [# batch norm's sums copied as they are: down the batch, axis 0
                  "lambda self, gy: self.inv_std * (gy - gy.mean(axis=0, keepdims=True) "
                  "- self.xhat * (gy * self.xhat).mean(axis=0, keepdims=True))",
                  # the evaluation-mode backward: μ and σ treated as constants
                  "lambda self, gy: gy * self.inv_std",
                  # the x̂ term forgotten: only the mean's dependence on x is kept
                  "lambda self, gy: self.inv_std * (gy - gy.mean(axis=1, keepdims=True))",
                  # sums where means are needed: 1/m forgotten
                  "lambda self, gy: self.inv_std * (gy - gy.sum(axis=1, keepdims=True) "
                  "- self.xhat * (gy * self.xhat).sum(axis=1, keepdims=True))"]},
}
