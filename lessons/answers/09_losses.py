"""Answer key for lessons/09_losses.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all.
"""
ANSWERS = {
    # (a) -log sigmoid(-2) = log(1 + e^2) = 2.12693
    # (b) -log(1 - sigmoid(3)) = log(1 + e^3) = 3.04859
    1: {"right": ["2.1269 3.0486", "2.127, 3.049"],
        "wrong": ["0.1269 3.0486",    # (a) with the sign of z flipped: log(1 + e^-2)
                  "0.9237 1.3240",    # log10 instead of the natural log
                  "2 3",              # |z| only, the log(1 + e^-|z|) term forgotten
                  "2.1269"]},         # one number
    2: {"right": ["24", "96/4", "0.96/0.04"],
        "wrong": ["25",        # 1 / rate: balanced against all images
                  "0.0417",    # upside down: positives / negatives
                  "0.04"]},
    # |1| - log cosh 1 = 1 - 0.43378 = 0.56622
    3: {"right": ["0.5662", "1 - 0.4338"],
        "wrong": ["0.4299",    # the jump for delta = 0.6
                  "0.4338",    # log cosh 1, the value at d = 1, not the jump
                  "0",         # assumed continuous, like Smooth L1
                  "0.5"]},
}
