"""Answer key for lessons/11_group_attention.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["Cheek Chin Cheek Eyes Holistic", "cheek, chin, cheek, eyes, holistic"],
        "wrong": ["Hair Chin Cheek Eyes Holistic",    # sideburns counted as hair
                  "Cheek Mouth Cheek Eyes Holistic",  # a goatee counted as the mouth's
                  "Cheek Chin Neck Eyes Eyes",        # earrings at the neck, make-up at the eyes
                  "Cheek Chin Cheek Eyes"]},          # one missing
    2: {"right": ["20 10", "20, 10", "160/8 160/16"],
        "wrong": ["40 20",    # the max pool after conv1 forgotten
                  "28 14",    # the sides at 224, not at 160
                  "10 5"]},   # one halving too many
    3: {"right": ["lambda x, masks: masks.reshape(*masks.shape[:2], -1)"
                  " @ x.reshape(*x.shape[:2], -1).transpose(0, 2, 1) / (x.shape[2] * x.shape[3])",
                  "def answer(x, masks):\n"
                  "    n, c, h, w = x.shape\n"
                  "    f = (masks[:, :, None] * x[:, None]).sum(axis=(3, 4))\n"
                  "    return f / (h * w)\n"],
        "wrong": [  # divided by the mask's area instead of H*W
                  "lambda x, masks: (masks[:, :, None] * x[:, None]).sum(axis=(3, 4))"
                  " / masks.sum(axis=(2, 3))[..., None]",
                  # the 1/HW forgotten
                  "lambda x, masks: (masks[:, :, None] * x[:, None]).sum(axis=(3, 4))",
                  # (N, C, G) instead of (N, G, C)
                  "lambda x, masks: (masks[:, None] * x[:, :, None]).mean(axis=(3, 4))"]},
}
