"""Answer key for lessons/01_tensors_and_graphs.py. Try the exercises before reading it!

For each exercise: answers that ``--check N`` must accept ("right") and reject ("wrong").
tests/test_lessons.py runs them all. A code exercise's answer is what a student could type
after the exercise number instead of editing the file: an expression (a lambda) or code that
defines ``answer``.
"""
ENGINE = '''
def answer(root, grad, retain_graph=False):
    # Part 1: the order. Depth-first from root with our own stack; a tensor is appended once
    # all its inputs are (the (t, True) entry comes back after them), then the list reversed.
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        t, inputs_done = stack.pop()
        if inputs_done:
            order.append(t)
            continue
        if t in seen:
            continue
        seen.add(t)
        stack.append((t, True))
        if t.creator is not None:
            stack.extend((x, False) for x in t.creator.inputs if x.requires_grad)
    order.reverse()
    # Part 2: the loop. Each tensor's gradient is complete when its turn comes.
    grads = {root: grad}
    for t in order:
        g = grads.pop(t, None)
        if g is None:
            continue
        if t.is_leaf or t.retains_grad:
            t.grad = g if t.grad is None else t.grad + g
        if t.creator is None:
            continue
        fn = t.creator
        for x, gx in zip(fn.inputs, fn.run_backward(g, retain_graph)):
            if gx is None or not x.requires_grad:
                continue
            gx = sum_to(gx, x.shape).astype(x.dtype)
            grads[x] = grads[x] + gx if x in grads else gx
'''


def wrong_engine(old, new):
    """The right engine with one slip."""
    assert old in ENGINE, old
    return ENGINE.replace(old, new)


RECURSIVE = '''
def answer(root, grad, retain_graph=False):
    order, seen = [], set()
    def visit(t):
        if t in seen:
            return
        seen.add(t)
        for x in (t.creator.inputs if t.creator else []):
            if x.requires_grad:
                visit(x)
        order.append(t)
    visit(root)
    grads = {root: grad}
    for t in reversed(order):
        g = grads.pop(t, None)
        if g is None:
            continue
        if t.is_leaf or t.retains_grad:
            t.grad = g if t.grad is None else t.grad + g
        if t.creator is not None:
            for x, gx in zip(t.creator.inputs, t.creator.run_backward(g, retain_graph)):
                if gx is not None and x.requires_grad:
                    gx = sum_to(gx, x.shape).astype(x.dtype)
                    grads[x] = grads[x] + gx if x in grads else gx
'''

NAIVE = '''
def answer(root, grad, retain_graph=True):
    stack = [(root, grad)]          # pass each gradient on at once, along every path
    while stack:
        t, g = stack.pop()
        if t.is_leaf:
            t.grad = g if t.grad is None else t.grad + g
            continue
        for x, gx in zip(t.creator.inputs, t.creator.run_backward(g, True)):
            if gx is not None and x.requires_grad:
                stack.append((x, sum_to(gx, x.shape)))
'''

ANSWERS = {
    1: {"right": ["-12 10", "(-12, 10)", "-12,10"],
        "wrong": ["-6 10",      # x's direct use in v = u * x forgotten
                  "-12 9",      # y's direct use in L = v + y forgotten
                  "10 -12"]},   # the two swapped
    2: {"right": ["lambda self, gy: gy / (1 + np.exp(-self.x))",
                  "def answer(self, gy):\n"
                  "    sigmoid = np.exp(self.x - np.logaddexp(0, self.x))\n"
                  "    return gy * sigmoid\n"],
        "wrong": ["lambda self, gy: gy * np.exp(self.x)",          # the chain rule's outer part
                  "lambda self, gy: gy / (1 + np.exp(self.x))",    # a sign slip
                  "lambda self, gy: 1 / (1 + np.exp(-self.x))"]},  # gy forgotten
    3: {"right": [ENGINE],
        "wrong": [wrong_engine("    order.reverse()\n", ""),       # the forward order
                  wrong_engine("grads[x] = grads[x] + gx if x in grads else gx",
                               "grads[x] = gx"),                   # a second use overwrites
                  wrong_engine("sum_to(gx, x.shape)", "gx"),      # broadcast shapes kept
                  wrong_engine("if t.is_leaf or t.retains_grad:", "if t.is_leaf:"),
                  RECURSIVE,                                       # 10,000 deep: RecursionError
                  NAIVE]},                                         # once per path: 2^n calls
}
