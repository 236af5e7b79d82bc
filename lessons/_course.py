"""What every lesson shares: running it, printing it, and checking its exercises.

A lesson is a script that ends with

    if __name__ == "__main__":
        course.run(main, EXERCISES)

and is used like this (from the repository root):

    python lessons/01_tensors_and_graphs.py              run the lesson: it prints and draws
    python lessons/01_tensors_and_graphs.py --quick      the same, smaller sizes (the tests use it)
    python lessons/01_tensors_and_graphs.py --check      list the exercises
    python lessons/01_tensors_and_graphs.py --check 1 5 7
                                                         check the answer "5 7" to exercise 1
    python lessons/01_tensors_and_graphs.py --check 3    check exercise 3, where the answer is
                                                         the code you wrote in the lesson file

There are two kinds of exercise, and the lesson says which one each is:

- a *value* exercise: you work something out (a number, a few numbers, a list of names) and
  type it after the exercise number;
- a *code* exercise: you edit a function in the lesson file (the place says "exercise N"),
  then run ``--check N``. Anything typed after the number replaces that function for one
  check: a Python expression (usually a ``lambda``), or code that defines ``answer``; it is
  evaluated with the lesson's names (``np``, ``mfa``, ``F``, ...).

The answer is right (exit status 0) or not yet (exit status 1, with a hint); a malformed
command exits with status 2. A check never prints the answer.

For lesson authors: declare each exercise with the ``@exercise`` decorator (its docstring is
the question, its body the check) and list them in ``EXERCISES``, numbered from 1 in list
order. A check returns a short remark when the answer is right and raises
``NotYet(hint)`` when it is not; any other exception from a student's code is reported as
"not yet" too. Put right and wrong answers for every exercise in
``lessons/answers/<lesson file name>``: ``tests/test_lessons.py`` runs every lesson, and
every check with them. lessons/README.md has the whole recipe.
"""
import ast
import inspect
import operator
import os
import sys
import textwrap
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LESSONS_DIR = Path(__file__).resolve().parent

try:  # run straight from a clone, before `pip install -e .`
    import minifaceattr  # noqa: F401
except ImportError:
    sys.path.insert(0, str(LESSONS_DIR.parent))

# Lessons print ∂, Σ and friends; never crash on a console that cannot show them.
for _stream in (sys.stdout, sys.stderr):
    if hasattr(_stream, "reconfigure"):
        _stream.reconfigure(errors="backslashreplace")

WIDTH = 92
USAGE = """usage:
  python {script}                   run the lesson (add --quick for smaller sizes)
  python {script} --check           list the exercises
  python {script} --check N ANSWER  check your answer to value exercise N
  python {script} --check N         check code exercise N (the function you edited)"""
_claims = {"failed": 0}


# --- printing a lesson ---------------------------------------------------------------------

def section(title):
    """Print a section heading."""
    print(f"\n{title}\n{'-' * len(title)}")


def say(text):
    """Print a paragraph of explanation, dedented and wrapped."""
    for paragraph in textwrap.dedent(text).strip().split("\n\n"):
        print(textwrap.fill(" ".join(paragraph.split()), WIDTH))


def show(label, array, precision=4):
    """Print ``label = array``, with the rows of a matrix lined up under each other."""
    prefix = f"{label} = "
    text = np.array2string(np.asarray(array), precision=precision, suppress_small=True,
                           prefix=prefix, max_line_width=WIDTH)
    print(prefix + text)


def confirm(ok, statement):
    """Print a claim the lesson makes, checked by the code right before it.

    A lesson that prints a claim which does not hold ends with exit status 1, so the tests
    notice when a library change makes a lesson say something false.
    """
    if ok:
        print(f"  [confirmed] {statement}")
    else:
        _claims["failed"] += 1
        print(f"  [NOT TRUE] {statement}   <- the lesson expected this; please report it")


def output_path(name):
    """Where a lesson writes a figure: lessons/output/<name> (git-ignored).

    The environment variable MINIFACEATTR_LESSON_OUTPUT moves the folder (the tests use it).
    """
    folder = Path(os.environ.get("MINIFACEATTR_LESSON_OUTPUT") or LESSONS_DIR / "output")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def save_figure(fig, name, dpi=120):
    """Write ``fig`` to ``output_path(name)``, close it, and say where it went."""
    import matplotlib.pyplot as plt
    path = output_path(name)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    print("figure written:", shown_path(path))
    return path


def shown_path(path):
    """``path`` as a student would type it: relative to where they are, when that is shorter."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)
    return str(path) if rel.startswith("..") else rel


# --- exercises -----------------------------------------------------------------------------

class NotYet(Exception):
    """Raised by a check: the answer is not right yet. The message is the hint."""


def gradcheck_answer(fn, inputs, setting="", hint=""):
    """``mfa.gradcheck(fn, inputs)`` for a code exercise: a wrong derivative, or a backward
    that fails on the shapes (ValueError), becomes ``NotYet`` naming ``setting`` (e.g.
    "with x of shape (2, 3)") and ending with ``hint``."""
    import minifaceattr as mfa
    where = f"{setting}: " if setting else ""
    try:
        mfa.gradcheck(fn, inputs)
    except mfa.GradcheckError as e:
        raise NotYet(f"{where}{e}" + (f". {hint}" if hint else "")) from None
    except ValueError as e:
        raise NotYet(f"{where}your backward failed: {e}") from None


@dataclass
class Exercise:
    """One exercise at the end of a lesson; made with the ``@exercise`` decorator."""
    title: str
    question: str
    check: object
    edit: object = None
    answer: str = "YOUR_ANSWER"


def exercise(title, answer="YOUR_ANSWER", edit=None):
    """Declare an exercise: the decorated function's docstring is the question, its body the check.

        @course.exercise("Backward by hand", answer="DL_DX DL_DY")
        def exercise_1(answer):
            \"\"\"The question, as the student will read it.\"\"\"
            ...                        # return a remark if right, raise course.NotYet(hint) if not

    answer: for a value exercise, how the typed answer looks (shown in the instructions).
    edit:   for a code exercise, the function the student edits; the check then receives a
            function (the edited one, or one typed after the exercise number) instead of text.
    """
    def declare(check):
        return Exercise(title, inspect.cleandoc(check.__doc__ or ""), check, edit, answer)
    return declare


def run(main, exercises=()):
    """Run the lesson (``main(quick)``), or check an exercise: see this module's docstring."""
    args = sys.argv[1:]
    quick = "--quick" in args
    args = [a for a in args if a != "--quick"]
    script = shown_path(sys.argv[0])
    if args and args[0] in ("-h", "--help"):
        print(USAGE.format(script=script))
        return
    if not args:
        title = (main.__globals__.get("__doc__") or script).strip().splitlines()[0]
        print(f"{title}\n{'=' * len(title)}")
        main(quick=quick)
        print_exercises(exercises, script)
        sys.exit(1 if _claims["failed"] else 0)
    if args[0] != "--check":
        usage_error(f"unknown argument {args[0]!r}", script)
    if len(args) == 1:
        print_exercises(exercises, script)
        return
    if not args[1].isdigit() or not 1 <= int(args[1]) <= len(exercises):
        usage_error(f"--check needs an exercise number from 1 to {len(exercises)}, "
                    f"got {args[1]!r}", script)
    number = int(args[1])
    sys.exit(check_exercise(exercises[number - 1], number, " ".join(args[2:]).strip(),
                            main.__globals__, script))


def usage_error(message, script):
    print(f"{message}\n{USAGE.format(script=script)}", file=sys.stderr)
    sys.exit(2)


def print_exercises(exercises, script):
    section("Exercises")
    for n, ex in enumerate(exercises, 1):
        print(f"\n{n}. {ex.title}")
        print(textwrap.indent(ex.question, "   "))
        print(f"   {how_to_answer(ex, n, script)}")


def how_to_answer(ex, n, script):
    if ex.edit is None:
        return f"Answer:  python {script} --check {n} {ex.answer}"
    return f"Edit {ex.edit.__qualname__} in {script}, then run:\n   python {script} --check {n}"


def check_exercise(ex, n, typed, namespace, script):
    """Check one answer; print right / not yet; return the exit status (0, 1, or 2)."""
    print(f"Exercise {n}: {ex.title}")
    if ex.edit is None:
        if not typed:
            print(f"Type your answer after the exercise number:\n"
                  f"  python {script} --check {n} {ex.answer}")
            return 2
        print(f"Your answer: {typed}")
        answer, where = typed, "your answer"
    elif typed:
        print(f"Your answer (replacing {ex.edit.__qualname__}): {typed}")
        try:
            answer = code_answer(typed, namespace)
        except Exception as e:  # noqa: BLE001  (a typo in the typed code is the student's to fix)
            print(f"Not yet. That does not run as Python: {one_line(e)}")
            return 1
        where = "your answer"
    else:
        print(f"Checking {ex.edit.__qualname__} in {script}")
        answer, where = ex.edit, ex.edit.__qualname__
    try:
        remark = ex.check(answer)
    except NotYet as e:
        print(f"Not yet. Hint: {e}")
        return 1
    except NotImplementedError:
        print(f"Not yet: {where} still raises NotImplementedError; "
              f"replace that line with your code (look for 'exercise {n}').")
        return 1
    except Exception as e:  # noqa: BLE001  (the student's code failed: say where, not why)
        print(f"Not yet: {where} raised {one_line(e)}")
        frame = _last_frame_in(e, namespace)
        if frame:
            print(f"  (at line {frame.lineno}: {frame.line})")
        return 1
    print(f"Right! {remark or ''}".rstrip())
    return 0


def code_answer(text, namespace):
    """A typed code answer: an expression, or statements that define ``answer``."""
    scope = dict(namespace)
    try:
        return eval(compile(text, "<your answer>", "eval"), scope)
    except SyntaxError:
        exec(compile(text, "<your answer>", "exec"), scope)
    if "answer" not in scope:
        raise NameError("code typed after the exercise number must be an expression "
                        "or define a function called 'answer'")
    return scope["answer"]


def one_line(e):
    return traceback.format_exception_only(type(e), e)[-1].strip()


def _last_frame_in(e, namespace):
    """The deepest traceback frame in the lesson file or in typed code, if any."""
    lesson = namespace.get("__file__")
    frames = [f for f in traceback.extract_tb(e.__traceback__)
              if f.filename == "<your answer>" or (lesson and Path(f.filename) == Path(lesson))]
    return frames[-1] if frames and frames[-1].line else None


# --- reading answers -----------------------------------------------------------------------

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: operator.truediv, ast.Pow: operator.pow, ast.USub: operator.neg,
        ast.UAdd: operator.pos}


def number(text):
    """A number typed by a student: ``-12``, ``2.5e-3``, ``3/4``, ``2*3**2`` (no names)."""
    def value(node):
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return float(node.value)  # floats overflow to an error, where ints would grow forever
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](value(node.operand))
        raise ValueError
    try:
        return float(value(ast.parse(text.strip(), mode="eval").body))
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError):
        raise NotYet(f"{text!r} is not a number I can read "
                     "(write e.g. -12, 0.5, 3/4 or 1e-5)") from None


def numbers(text, count=None):
    """The numbers in ``text``, separated by spaces or commas (brackets are ignored)."""
    tokens = text.translate(str.maketrans("()[],", "     ")).split()
    if count is not None and len(tokens) != count:
        raise NotYet(f"this exercise wants {count} number{'s' * (count != 1)}, "
                     f"separated by spaces; you gave {len(tokens)}")
    return [number(t) for t in tokens]


def words(text):
    """The names in ``text``, separated by spaces or commas."""
    return text.translate(str.maketrans("()[],'\"", "       ")).split()


def median_seconds(fn, repeats, sync=lambda: None):
    """The median time of ``repeats`` calls of fn(), after one warm-up call."""
    fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def is_close(a, b, rtol=1e-4, atol=1e-8):
    return abs(a - b) <= atol + rtol * abs(b)
