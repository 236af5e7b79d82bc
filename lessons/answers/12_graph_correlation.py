"""Answer key for lessons/12_graph_correlation.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["7 56", "7, 56", "8-1 8*7"],
        "wrong": ["8 64",    # the softmax taken over all K, j = i included
                  "7 28",    # counted as an undirected graph: e_ij and e_ji as one
                  "7 49"]},  # 7 squared
    2: {"right": ["0.8808 1.3808 0.6192", "0.880797 1.380797 0.619203", "0.881, 1.381, 0.619"],
        "wrong": ["0.6652 1.3808 0.6192",   # softmax over all three, s_00 = 1 included
                  "0.8808 1.7616 1.2384",   # alpha forgotten: the messages alone, unweighted
                  "0.8808 2.7616 1.2384",   # f_0 plus the messages, no (1 - alpha) and alpha
                  "0.5 1.0 1.0"]},          # equal affinities (scores ignored)
    3: {"right": ["lambda self, ge: self.e * (ge - (self.e * ge).sum(axis=-1, keepdims=True))",
                  "def answer(self, ge):\n"
                  "    expected = (self.e * ge).sum(axis=-1)[..., None]\n"
                  "    return self.e * (ge - expected)\n"],
        "wrong": [  # the normalisation's term forgotten
                  "lambda self, ge: self.e * ge",
                  # keepdims forgotten
                  "lambda self, ge: self.e * (ge - (self.e * ge).sum(axis=-1))",
                  # the factor e_ij forgotten
                  "lambda self, ge: ge - (self.e * ge).sum(axis=-1, keepdims=True)",
                  # the diagonal of the Jacobian only
                  "lambda self, ge: self.e * (1 - self.e) * ge"]},
}
