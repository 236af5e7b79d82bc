"""The course works: every lesson runs, and every exercise's --check tells right from wrong.

Lessons are found automatically (``lessons/NN_name.py``), so a new lesson is tested without
touching this file. Its test answers come from its answer key, ``lessons/answers/NN_name.py``
(``ANSWERS = {exercise number: {"right": [...], "wrong": [...]}}``): each right answer must
pass the check and each wrong one must be told "not yet". A code exercise's starter, as
shipped in the lesson file, must be "not yet" too.

Each lesson runs as a student runs it: a fresh Python, ``--quick``, from another directory
(so no path may depend on the working directory), with matplotlib drawing to files. The
command line ``--check N ANSWER`` is run for the first right and the first wrong answer of
every exercise; all the answers of the key also go through the same check in-process, which
is much faster than starting a Python for each.
"""
import functools
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS_DIR = Path(__file__).resolve().parents[1] / "lessons"
LESSONS = sorted(LESSONS_DIR.glob("[0-9][0-9]_*.py"))


@functools.lru_cache(maxsize=None)
def load(lesson):
    """The lesson as a module (its main() does not run), with its EXERCISES."""
    sys.path.insert(0, str(LESSONS_DIR))  # for `import _course`
    try:
        spec = importlib.util.spec_from_file_location(f"lesson_{lesson.stem}", lesson)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(LESSONS_DIR))


def answer_key(lesson):
    path = LESSONS_DIR / "answers" / lesson.name
    if not path.exists():
        return {}
    spec = importlib.util.spec_from_file_location(f"answers_{lesson.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ANSWERS


def answer_cases(kind):
    """(lesson, exercise number, answer) for every answer of ``kind`` in every answer key."""
    return [pytest.param(lesson, n, answer, id=f"{lesson.stem}-ex{n}-{kind}{i}")
            for lesson in LESSONS
            for n, answers in sorted(answer_key(lesson).items())
            for i, answer in enumerate(answers.get(kind, []))]


def env_for(cwd):
    return dict(os.environ, MPLBACKEND="Agg", PYTHONIOENCODING="utf-8",
                MINIFACEATTR_LESSON_OUTPUT=str(Path(cwd) / "figures"))


def run(lesson, *args, cwd):
    return subprocess.run([sys.executable, str(lesson), *args], cwd=cwd, env=env_for(cwd),
                          capture_output=True, text=True, timeout=300)


def check_in_process(lesson, n, answer, capsys):
    """What ``--check n answer`` does, without starting a Python: (exit status, output)."""
    module = load(lesson)
    course = sys.modules["_course"]
    status = course.check_exercise(module.EXERCISES[n - 1], n, answer, vars(module), lesson.name)
    return status, capsys.readouterr().out


def test_lessons_are_found():
    assert len(LESSONS) >= 3, f"expected the numbered lessons in {LESSONS_DIR}"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs(lesson, tmp_path):
    result = run(lesson, "--quick", cwd=tmp_path)
    out = result.stdout
    assert result.returncode == 0, f"{lesson.name} failed:\n{out[-3000:]}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr
    title = f"Lesson {int(lesson.name[:2])} - "
    assert out.startswith(title), f"the first line should be the docstring's title, {title!r}..."
    assert "[confirmed]" in out and "[NOT TRUE]" not in out  # the lesson checks its own claims
    assert "\nExercises\n" in out
    for n, exercise in enumerate(load(lesson).EXERCISES, 1):
        assert f"\n{n}. {exercise.title}\n" in out
        assert f"--check {n}" in out
    for figure in re.findall(r"figure written: (\S+)", out):
        assert (tmp_path / figure).is_file(), f"{lesson.name} says it wrote {figure}"
        assert figure.startswith("figures"), "figures go to MINIFACEATTR_LESSON_OUTPUT"


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_every_exercise_has_test_answers(lesson):
    exercises = load(lesson).EXERCISES
    assert 2 <= len(exercises) <= 3, "a lesson ends with two or three exercises"
    key = answer_key(lesson)
    assert sorted(key) == list(range(1, len(exercises) + 1)), (
        f"lessons/answers/{lesson.name} needs ANSWERS for exercises 1..{len(exercises)}")
    for n, answers in key.items():
        assert answers.get("right") and answers.get("wrong"), (
            f"exercise {n}: a right and a wrong answer")
    for exercise in exercises:
        assert exercise.question, (
            f"exercise {exercise.title!r} has no question (its check's docstring)")


@pytest.mark.parametrize("lesson, n, answer", answer_cases("right"))
def test_check_accepts_a_right_answer(lesson, n, answer, capsys):
    status, out = check_in_process(lesson, n, answer, capsys)
    assert status == 0 and "Right!" in out, out


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a wrong answer may divide by zero
@pytest.mark.parametrize("lesson, n, answer", answer_cases("wrong"))
def test_check_rejects_a_wrong_answer(lesson, n, answer, capsys):
    status, out = check_in_process(lesson, n, answer, capsys)
    assert status == 1 and "Not yet" in out and "Right!" not in out, out


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_check_on_the_command_line(lesson, tmp_path):
    """``--check N ANSWER`` for each exercise's first right and first wrong answer; ``--check N``
    alone for a code exercise, whose starter as shipped must not pass. Run side by side."""
    cases = []
    for n, answers in sorted(answer_key(lesson).items()):
        cases.append((n, answers["right"][0], 0, "Right!"))
        cases.append((n, answers["wrong"][0], 1, "Not yet"))
        if load(lesson).EXERCISES[n - 1].edit is not None:
            cases.append((n, None, 1, "Not yet"))
    running = [subprocess.Popen([sys.executable, str(lesson), "--check", str(n)]
                                + ([answer] if answer else []),
                                cwd=tmp_path, env=env_for(tmp_path), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for n, answer, _, _ in cases]
    for (n, answer, status, word), process in zip(cases, running):
        out, err = process.communicate(timeout=300)
        what = f"--check {n} {answer if answer is not None else '(the starter code)'}"
        assert process.returncode == status and word in out, f"{what}:\n{out}{err}"
        assert "Traceback" not in out + err, f"{what}:\n{out}{err}"


def test_check_usage_errors(tmp_path):
    lesson = LESSONS[0]
    value = next(n for n, ex in enumerate(load(lesson).EXERCISES, 1) if ex.edit is None)
    no_answer = run(lesson, "--check", str(value), cwd=tmp_path)
    assert no_answer.returncode == 2 and "--check" in no_answer.stdout
    bad_number = run(lesson, "--check", "99", cwd=tmp_path)
    assert bad_number.returncode == 2 and "exercise number" in bad_number.stderr
    listing = run(lesson, "--check", cwd=tmp_path)
    assert listing.returncode == 0 and "Exercises" in listing.stdout
