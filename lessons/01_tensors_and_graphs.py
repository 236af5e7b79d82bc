"""Lesson 1 - Tensors and the computational graph

Run it:   python lessons/01_tensors_and_graphs.py       (about 75 minutes with the exercises)
Needs:    NumPy arrays, and the chain rule from calculus.

The idea
--------
Training a network means nudging its numbers w to make a loss L smaller, and for that we need
the gradient ∂L/∂w of every one of them. Nobody writes those derivatives by hand for a network
with millions of numbers. Instead, each operation is *recorded* as it runs, and afterwards the
chain rule is applied backwards through the record. That is automatic differentiation, and
this lesson takes it apart.

A ``Tensor`` is a NumPy array that remembers where it came from:

    t.data      the array itself
    t.creator   the Function that computed t (None for a tensor you made: a "leaf")
    t.grad      ∂L/∂t, filled in by L.backward() (for leaves that have requires_grad=True)

Calling an operation on tensors (``a * b``) runs a Function: its ``forward`` computes the
output array and keeps what the backward will need; the output's ``creator`` points back at
the Function, whose ``inputs`` point at a and b. Those links are the computational graph.

The chain rule, one Function at a time
--------------------------------------
A Function knows only its own local derivatives. For y = a·b, ∂y/∂a = b and ∂y/∂b = a, so
given the gradient arriving from above, gy = ∂L/∂y, its ``backward`` returns

    ∂L/∂a = gy · b          ∂L/∂b = gy · a

Backward passes gradients from the output towards the leaves, one Function at a time.

A value used twice gets a sum
-----------------------------
If b feeds two operations u1 and u2, L depends on b along two paths, and the multivariable
chain rule adds them:   ∂L/∂b = ∂L/∂u1 · ∂u1/∂b + ∂L/∂u2 · ∂u2/∂b.

So a tensor's gradient is complete only after *every* use has sent its share back. The engine
therefore visits the graph in reverse topological order: each tensor after all the tensors
computed from it. Then every Function runs its backward exactly once, with a complete gradient.

The running example:   a = 0.5,  b = 4;   c = a·b,   d = c + b,   L = d·d.

What to watch for
-----------------
- b is used twice (by c and by d), and d twice (both inputs of d·d): count the paths.
- Gradients accumulate: ``backward`` *adds* into ``.grad``. A training loop resets the
  gradients before each step, or they pile up.
- Only floating-point tensors with ``requires_grad=True`` get gradients; inside
  ``with mfa.no_grad():`` nothing is recorded.
"""
import contextlib
import importlib.util
import traceback

import _course as course  # the lessons' shared helpers (and it finds minifaceattr)
import numpy as np

import minifaceattr as mfa
import minifaceattr.functional as F
from minifaceattr.autograd import Tensor, sum_to, topological_order  # noqa: F401  (sum_to: ex. 3)


def main(quick=False):
    section_1_tensors()
    a, b, c, d, L, names = section_2_the_graph()
    by_hand = section_3_backward_by_hand(a, b, c, d)
    section_4_backward_by_the_engine(a, b, L, by_hand)
    section_5_why_topological_order(L, names, doublings=10 if quick else 16)
    section_6_gradients_accumulate()


def section_1_tensors():
    course.section("1. A tensor is an array that remembers")
    x = mfa.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    print("x = mfa.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True) is")
    print(x)
    print("x.data is a plain NumPy array:", type(x.data).__name__, "of shape", x.shape,
          "and dtype", x.dtype, "(Python floats become float32, as in PyTorch)")
    print("x is a leaf (made by us, not computed):  x.creator =", x.creator,
          "  x.is_leaf =", x.is_leaf)
    y = x * 2 + 1
    first, second = y.creator.inputs
    print(f"y = x * 2 + 1 was computed by {type(y.creator).__name__}; its inputs: a tensor "
          f"made by {type(first.creator).__name__}, and {second.data} (a leaf: the constant, "
          "wrapped as a tensor)")
    print("Before any backward, x.grad =", x.grad)


def section_2_the_graph():
    course.section("2. The forward pass records a graph")
    a = mfa.tensor(0.5, requires_grad=True)
    b = mfa.tensor(4.0, requires_grad=True)
    c = a * b
    d = c + b
    L = d * d
    names = {a: "a", b: "b", c: "c", d: "d", L: "L"}  # tensors have no names; we give them some
    for name, t in [("a", a), ("b", b), ("c", c), ("d", d), ("L", L)]:
        print(f"{name} = {t.item():6.2f}   {describe(t, names)}")
    course.say("""
        Follow the links from L: L was made by Mul from (d, d), d by Add from (c, b), c by Mul
        from (a, b). That chain of creators is the whole graph; nothing else is stored.""")

    with mfa.no_grad():
        e = a * b
    print("Inside `with mfa.no_grad():`, e = a * b has creator", e.creator,
          "and requires_grad =", e.requires_grad, "- nothing was recorded.")
    return a, b, c, d, L, names


def describe(t, names):
    """'leaf' or 'made by Mul(d, d)': one node of the graph, in words."""
    if t.creator is None:
        return "leaf"
    inputs = ", ".join(names.get(x, "?") for x in t.creator.inputs)
    return f"made by {type(t.creator).__name__}({inputs})"


def section_3_backward_by_hand(a, b, c, d):
    course.section("3. Backward by hand: the chain rule, one Function at a time")
    a, b, c, d = a.item(), b.item(), c.item(), d.item()  # plain Python numbers from here on
    gL = 1.0                  # ∂L/∂L
    # L = d·d: Mul sends gL·(other input) to each input. Both inputs are d, so d gets two shares.
    gd = gL * d + gL * d
    # d = c + b: Add sends its gradient unchanged to both inputs.
    gc = gd
    gb_from_add = gd
    # c = a·b: Mul again.
    ga = gc * b
    gb_from_mul = gc * a
    # b was used twice (by the Add and by the first Mul): its two shares add up.
    gb = gb_from_add + gb_from_mul
    print(f"dL/dL = {gL}")
    print(f"dL/dd = gL*d + gL*d          = {gd}    (d is both inputs of d*d)")
    print(f"dL/dc = dL/dd                = {gc}")
    print(f"dL/da = dL/dc * b            = {ga}")
    print(f"dL/db = dL/dd + dL/dc * a    = {gb_from_add} + {gb_from_mul} = {gb}    (b used twice)")
    # Check against the closed form: L = (ab + b)^2 = b^2 (a + 1)^2.
    closed_a, closed_b = 2 * b**2 * (a + 1), 2 * b * (a + 1) ** 2
    print(f"closed form, L = b^2 (a+1)^2:  dL/da = 2b^2(a+1) = {closed_a},  "
          f"dL/db = 2b(a+1)^2 = {closed_b}")
    course.confirm(np.isclose(ga, closed_a) and np.isclose(gb, closed_b),
                   "the step-by-step chain rule agrees with the closed form")
    return ga, gb


def section_4_backward_by_the_engine(a, b, L, by_hand):
    course.section("4. Backward by the engine")
    L.backward()
    print(f"after L.backward():  a.grad = {a.grad}   b.grad = {b.grad}")
    course.confirm(np.isclose(a.grad, by_hand[0]) and np.isclose(b.grad, by_hand[1]),
                   "the engine computes exactly what we did by hand")
    course.say("""
        The engine did the same steps: each Function's backward multiplied the incoming
        gradient by its local derivatives, and where a tensor was used twice it added the
        shares (see the loop in Tensor.backward, minifaceattr/autograd.py: about fifteen lines).
        Exercise 3 has you write that loop, and the ordering of section 5, yourself.""")


def section_5_why_topological_order(L, names, doublings):
    course.section("5. Why the engine visits the graph in topological order")
    order = topological_order(L)
    print("the order backward visits our graph in:", " -> ".join(names[t] for t in order))
    course.say("""
        Every tensor comes after all the tensors computed from it: d before c and b, because
        d's gradient is complete only when both of its uses in L = d*d have reported; b after
        both c and d, which each send it a share. So each Function runs once, and only when
        its output's gradient is complete.

        Is the ordering worth the trouble? A simpler rule would be: whenever a gradient
        arrives, pass it on at once (gradients add, so the sums come out right). Try both
        on a chain where each step uses the previous value twice: y1 = y0 + y0, y2 = y1 + y1,
        and so on.""")
    y0 = mfa.tensor(1.0, requires_grad=True)
    y = y0
    for _ in range(doublings):
        y = y + y

    calls = [0]

    def naive_backward(t, g):
        """Pass g on at once, along every input, recursively (no ordering at all)."""
        if t.creator is None:
            t.grad = g if t.grad is None else t.grad + g
            return
        calls[0] += 1
        for x, gx in zip(t.creator.inputs, t.creator.backward(g)):
            naive_backward(x, gx)

    naive_backward(y, np.ones_like(y.data))
    naive_grad, y0.grad = y0.grad, None
    y.backward()
    functions = [t for t in topological_order(y) if t.creator is not None]
    print(f"{doublings} doublings:  dy/dy0 = {naive_grad:.0f} with the naive rule, "
          f"{y0.grad:.0f} with the engine")
    print(f"  naive rule: {calls[0]} backward calls (each Function once per path from y to it)")
    print(f"  engine:     {len(functions)} backward calls "
          "(each Function once, in topological order)")
    course.confirm(naive_grad == y0.grad == 2.0 ** doublings and calls[0] == 2 ** doublings - 1,
                   "both get 2^n, but the naive rule pays once per path: 2^n - 1 calls")


def section_6_gradients_accumulate():
    course.section("6. Gradients accumulate: backward adds into .grad")
    w = mfa.tensor(3.0, requires_grad=True)
    loss = w * w
    loss.backward(retain_graph=True)  # keep the graph so that we can go backward again
    first = w.grad.copy()
    loss.backward()
    print(f"loss = w*w at w = 3:  w.grad after one backward = {first},  after two = {w.grad}")
    course.confirm(w.grad == 2 * first, "the second backward added its gradient to the first")
    w.grad = None
    course.say("""
        That is what you want when one weight is used in several places, and what you do not
        want between two training steps: a training loop sets every .grad back to None (an
        optimizer's zero_grad()) before each backward.""")


# =============================================================================================
# Exercises. `python lessons/01_tensors_and_graphs.py --check` lists them. Each docstring is
# the question; the code under it is how your answer gets checked.
# =============================================================================================

@course.exercise("Backward by hand", answer="DL_DX DL_DY")
def exercise_1(answer):
    """u = x * y;   v = u * x;   L = v + y,   at x = 3, y = -2.
    Work out dL/dx and dL/dy by hand, step by step through the graph as in section 3.
    (Both x and y are used twice.)"""
    grad_x, grad_y = course.numbers(answer, count=2)
    x = mfa.tensor(3.0, requires_grad=True, dtype=np.float64)
    y = mfa.tensor(-2.0, requires_grad=True, dtype=np.float64)
    u = x * y
    v = u * x
    L = v + y
    L.backward()
    wrong = [name for name, mine, true in [("dL/dx", grad_x, x.grad), ("dL/dy", grad_y, y.grad)]
             if not course.is_close(mine, true.item())]
    if wrong:
        raise course.NotYet(f"{' and '.join(wrong)} not right yet. Draw the graph: each use of "
                            "a tensor sends back its own share of its gradient; add the shares.")
    return "Both paths through x, and both through y, counted."


class Softplus(mfa.Function):
    """y = log(1 + e^x), a smooth relative of ReLU (for exercise 3)."""

    def forward(self, x):
        self.x = x                  # saved: the backward will need it
        return np.logaddexp(0, x)   # log(e^0 + e^x), computed without overflow

    def backward(self, gy):
        # ---- exercise 2: return dL/dx, given gy = dL/dy (an array shaped like x) ----
        raise NotImplementedError


@course.exercise("Your own Function", edit=Softplus.backward)
def exercise_2(backward):
    """The class Softplus (in the lesson file, just before exercise_2) has a forward.
    Write its backward. (The check compares it with finite differences, using
    mfa.gradcheck; lesson 2 shows how that works.)"""
    Candidate = type("Softplus", (Softplus,), {"backward": backward})
    x = mfa.tensor(np.linspace(-4, 4, 9), requires_grad=True)  # float64, as gradcheck needs
    course.gradcheck_answer(lambda t: Candidate()(t), [x],
                            hint="Differentiate log(1 + e^x) with the chain rule, "
                                 "then multiply by gy.")
    return "Your Function works inside the engine like any built-in one."


# --- Exercise 3: the engine, built by you ----------------------------------------------------

def my_backward(root, grad, retain_graph=False):
    """Your engine: add d(root)/d(t) · grad into t.grad for every leaf t of root's graph that
    requires grad, and for every tensor that asked for it with t.retain_grad().

    Part 1, the order (about 15 lines): list the tensors of root's graph, root first, each
    after every tensor computed from it (section 5). Walk from root along t.creator.inputs,
    following only inputs with requires_grad; a leaf has t.creator None. Graphs can be 10,000
    operations deep, deeper than Python lets a function recurse: keep your own stack. (One
    way: a stack of (tensor, inputs_done) pairs; the first time t comes off, push (t, True)
    back, then its inputs; when (t, True) comes off, all its inputs are listed: list t.
    Reversed, that list is the order.)

    Part 2, the loop (about 15 lines): keep a dict {tensor: its gradient so far}, starting as
    {root: grad}. Visit the tensors in your order and take each one's gradient g, complete by
    now (no entry: nothing reached it; skip it). If t.is_leaf or t.retains_grad, add g into
    t.grad (None means nothing yet). If t has a creator fn, fn.run_backward(g, retain_graph)
    returns one gradient per input of fn.inputs (None: no gradient); add each input x's
    sum_to(gx, x.shape).astype(x.dtype) (sum_to undoes broadcasting; a float32 input keeps a
    float32 gradient) into x's entry of the dict.
    """
    # ---- exercise 3: your topological order, then your backward loop ----
    raise NotImplementedError


@contextlib.contextmanager
def engine_using(backward):
    """Inside the block, every Tensor.backward runs ``backward`` (after the argument checks
    that the library's Tensor.backward does first)."""
    library = Tensor.backward

    def patched(self, grad=None, retain_graph=False):
        if not self.requires_grad:
            raise RuntimeError("backward() on a tensor that does not require grad")
        if grad is None and self.numel() != 1:
            raise RuntimeError("grad can be implicitly created only for a one-element output")
        grad = np.ones_like(self.data) if grad is None else np.asarray(grad, self.dtype)
        backward(self, grad, retain_graph)

    Tensor.backward = patched
    try:
        yield
    finally:
        Tensor.backward = library


def graphs():
    """name: a function that builds a fresh graph from fresh leaves, returning (root, leaves)."""
    def reused():
        x = mfa.tensor(np.array([1.5, -2.0]), requires_grad=True)
        y = x * x
        return (y * y + y * x).sum(), [x]

    def diamond():
        x, w = (mfa.tensor(np.array(v), requires_grad=True) for v in ([0.5, 2.0], [[1.0], [3.0]]))
        a, b = x * w, F.exp(x)        # both use x; x * w broadcasts (2,) against (2, 1)
        return (a * b + a).sum(), [x, w]

    def deep_chain():
        x = mfa.tensor(np.array(1.0), requires_grad=True)
        y = x
        for _ in range(10_000):
            y = y * 1.0001
        return y, [x]

    return {"reused nodes": reused, "a diamond": diamond, "a chain of 10,000 Muls": deep_chain}


@course.exercise("Build the engine", edit=my_backward)
def exercise_3(backward):
    """Write my_backward (in the lesson file, just before exercise_3): the topological order
    and the backward loop of the engine, about 30 lines; its docstring says what each part
    does. The check compares it with Tensor.backward on reused nodes, a diamond and a deep
    chain, counts its backward calls, then runs the engine's own tests (tests/test_autograd.py)
    with your engine in place of the library's."""
    for name, build in graphs().items():
        (root, leaves), (mine, my_leaves) = build(), build()
        root.backward()
        with engine_using(backward):
            mine.backward()
        for k, (x, y) in enumerate(zip(leaves, my_leaves)):
            if y.grad is None or not np.allclose(y.grad, x.grad, rtol=1e-10):
                raise course.NotYet(f"on {name}, leaf {k} gets grad {y.grad}, the engine gives "
                                    f"{x.grad}. Is every use's share added, in an order that "
                                    "has each tensor after all the tensors computed from it?")
    count_backward_calls(backward)
    run_engine_tests(backward)
    return "Your engine passes the engine's own tests: it is the one in minifaceattr/autograd.py."


def count_backward_calls(backward):
    """Each Function's backward must run once, not once per path (section 5)."""
    y0 = mfa.tensor(np.array(1.0), requires_grad=True)
    y = y0
    for _ in range(12):
        y = y + y
    calls, run_backward = [0], mfa.Function.run_backward

    def counted(fn, gy, retain_graph):
        calls[0] += 1
        return run_backward(fn, gy, retain_graph)

    mfa.Function.run_backward = counted
    try:
        with engine_using(backward):
            y.backward()
    finally:
        mfa.Function.run_backward = run_backward
    if calls[0] != 12:
        raise course.NotYet(f"on 12 doublings y = y + y, your engine called backward {calls[0]} "
                            "times, not 12: visit each tensor once, with its complete gradient.")


def run_engine_tests(backward):
    """The tests of tests/test_autograd.py, with ``backward`` as the engine."""
    path = course.LESSONS_DIR.parent / "tests" / "test_autograd.py"
    try:
        spec = importlib.util.spec_from_file_location("test_autograd", path)
        tests = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(tests)
    except (FileNotFoundError, ImportError) as e:
        print(f"  (the engine's own tests were not run: {course.one_line(e)})")
        return
    for name, test in vars(tests).items():
        if name.startswith("test_") and callable(test):
            with engine_using(backward):
                try:
                    test()
                except Exception as e:  # noqa: BLE001  (any failure is a hint, not a crash)
                    line = [f for f in traceback.extract_tb(e.__traceback__)
                            if f.filename == str(path)][-1]
                    raise course.NotYet(f"{name} in tests/test_autograd.py fails with your "
                                        f"engine: {course.one_line(e)} at line {line.lineno}: "
                                        f"{line.line}") from None


EXERCISES = [exercise_1, exercise_2, exercise_3]

if __name__ == "__main__":
    course.run(main, EXERCISES)
