"""Answer key for lessons/14_hmtnet.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["conv3 conv5 conv5", "Conv3, conv5, conv5"],
        "wrong": ["conv3 conv3 conv5",   # race read as leaving after conv3 (A1 also holds relu5)
                  "conv5 conv5 conv5",   # gender thought to use the whole trunk
                  "conv3 conv5"]},       # one head missing
    2: {"right": ["0.5 0.612 0.894", "1/2 0.375**0.5 3/11.25**0.5", "0.5, 0.6124, 0.8944"],
        "wrong": ["0.5 0.375 0.894",     # the mean squared error, not its root
                  "0.5 0.612 0.989",     # Pearson without subtracting the means (cosine)
                  "0 0.612 0.894"]},     # signed errors averaged: they cancel
    3: {"right": ["lambda maps, mode: sum(maps[1:], maps[0]) / len(maps) if mode == 'avg' "
                  "else F.concat(maps, axis=1)",
                  "def answer(maps, mode):\n"
                  "    if mode == 'concat':\n"
                  "        return F.concat(list(maps), axis=1)\n"
                  "    total = maps[0]\n"
                  "    for m in maps[1:]:\n"
                  "        total = total + m\n"
                  "    return total / len(maps)\n"],
        "wrong": ["lambda maps, mode: sum(maps[1:], maps[0]) / len(maps) if mode == 'avg' "
                  "else F.concat(maps, axis=0)",          # stacked along the batch axis
                  "lambda maps, mode: sum(maps[1:], maps[0]) if mode == 'avg' "
                  "else F.concat(maps, axis=1)",          # a sum, not a mean
                  "lambda maps, mode: sum(maps[1:], maps[0]) / len(maps)"]},  # concat never done
}
