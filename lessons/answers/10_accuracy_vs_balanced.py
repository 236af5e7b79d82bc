"""Answer key for lessons/10_accuracy_vs_balanced.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ANSWERS = {
    1: {"right": ["0.95 0.5", "95/100 1/2", "0.95, 0.50"],
        "wrong": ["0.95 0.95",   # balanced accuracy taken to be the accuracy
                  "0.05 0.5",    # accuracy counted on the hats instead of on the faces it got right
                  "0.95 0",      # balanced accuracy as the TPR alone
                  "0.95 1",      # ... or as the TNR alone
                  "95 50"]},     # percentages, where the question asks for fractions
    2: {"right": ["0.945 0.8537", "945/1000 0.85372", "0.945 0.854"],
        "wrong": ["0.945 0.6397",  # recall and precision averaged, not TPR and TNR
                  "0.945 0.945",   # the accuracy again
                  "0.855 0.8537",  # accuracy as (TP + TN) / N with TN and FP swapped
                  "0.945 0.75"]},  # TPR alone
    3: {"right": ["lambda said, truth: ((said * truth).sum(0) / truth.sum(0)"
                  " + ((1 - said) * (1 - truth)).sum(0) / (1 - truth).sum(0)) / 2",
                  "def answer(said, truth):\n"
                  "    said, truth = said == 1, truth == 1\n"
                  "    tpr = (said & truth).sum(axis=0) / truth.sum(axis=0)\n"
                  "    tnr = (~said & ~truth).sum(axis=0) / (~truth).sum(axis=0)\n"
                  "    return (tpr + tnr) / 2\n"],
        "wrong": ["lambda said, truth: (said == truth).mean(axis=0)",              # plain accuracy
                  "lambda said, truth: (said * truth).sum(0) / truth.sum(0)",      # TPR alone
                  "lambda said, truth: ((said * truth).sum(0) / truth.sum(0)"      # one mean over
                  " + ((1 - said) * (1 - truth)).sum() / (1 - truth).sum()) / 2",  # all columns
                  "lambda said, truth: ((said * truth).sum(1) / truth.sum(1)"      # summed over the
                  " + ((1 - said) * (1 - truth)).sum(1) / (1 - truth).sum(1)) / 2"]},  # wrong axis
}
