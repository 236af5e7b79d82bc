"""Answer key for lessons/13_training_mggnet.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["320 200", "40*8 40*5", "(320, 200)"],
        "wrong": ["240 160",    # two blocks, as in the paper, instead of three
                  "240 120",    # base and final heads forgotten
                  "320 240",    # no_gcl counted with GCL heads still there
                  "200 320"]},  # the two swapped
    2: {"right": ["658432", "8*128*129 + 8*256*257"],
        "wrong": ["655360",     # the C×C matrices only, the score vectors w_e forgotten
                  "526336",     # layer3's GCL only
                  "1316864"]},  # twice too many (e.g. counting both blocks at both sizes)
    3: {"right": ["lambda out: sum((out.gcl_logits or out.gal_logits).values(), out.base_logits)"
                  " / (1 + len(out.gcl_logits or out.gal_logits))",
                  "def answer(out):\n"
                  "    heads = list(out.gcl_logits.values()) if out.gcl_logits"
                  " else list(out.gal_logits.values())\n"
                  "    total = out.base_logits\n"
                  "    for y in heads:\n"
                  "        total = total + y\n"
                  "    return total / (len(heads) + 1)\n"],
        "wrong": ["lambda out: sum(out.gcl_logits.values(), out.base_logits)"
                  " / (1 + len(out.gcl_logits))",
                  # GCL only: wrong for no_gcl, which averages its GAL heads
                  "lambda out: (sum(out.gcl_logits.values(), out.base_logits)"
                  " + sum(out.gal_logits.values(), 0))"
                  " / (1 + len(out.gcl_logits) + len(out.gal_logits))",
                  # GAL heads averaged in too
                  "lambda out: sum((out.gcl_logits or out.gal_logits).values(), 0)"
                  " / len(out.gcl_logits or out.gal_logits)",
                  # the base prediction Y^B left out
                  "lambda out: mfa.functional.sigmoid("
                  "sum((out.gcl_logits or out.gal_logits).values(), out.base_logits)"
                  " / (1 + len(out.gcl_logits or out.gal_logits)))"]},
                  # probabilities instead of logits
}
