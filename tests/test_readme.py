"""Every fenced code block of README.md and lessons/README.md runs as pasted.

Python blocks run as written, each in a fresh namespace in an empty folder (the ImageNet
weights they name are written there first, from PyTorch, when it is installed). Shell blocks
run line by line, with three exceptions kept cheap: `pip install` is not run, but the extras
it names must exist in setup.py; `python -m pytest` is not run from inside pytest; a training
script or a whole lesson gets `--help` appended (`tests/test_examples.py` and
`tests/test_lessons.py` run them at small sizes). Output blocks (no language) are not run.
"""
import ast
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ["README.md", "lessons/README.md", "docs/from_pytorch.md"]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(kind):
    found = []
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            if m.group(1) == kind:
                line = text[:m.start()].count("\n") + 1
                found.append(pytest.param(m.group(2), id=f"{doc}:{line}"))
    return found


def extras_in_setup():
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call)
                and getattr(n.func, "id", "") == "setup")
    extras = next(k.value for k in call.keywords if k.arg == "extras_require")
    return {ast.literal_eval(key) for key in extras.keys}


def write_imagenet_weights(folder):
    torch = pytest.importorskip("torch")
    from minifaceattr import models
    state = models.resnet18(num_classes=1000).state_dict()
    torch.save({k: torch.from_numpy(v) for k, v in state.items()},
               folder / "resnet18-f37072fd.pth")


@pytest.mark.parametrize("code", blocks("python"))
def test_python_block_runs(code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if "resnet18-f37072fd.pth" in code:
        write_imagenet_weights(tmp_path)
    exec(compile(code, "<README block>", "exec"), {"__name__": "__readme__"})


def shell_command(line):
    """``line`` as (environment additions, argv), its trailing comment removed."""
    words = shlex.split(line, comments=True)
    env = {}
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    return env, words


@pytest.mark.parametrize("code", blocks("bash"))
def test_shell_block_runs(code):
    for part in code.replace("&&", "\n").splitlines():
        env, argv = shell_command(part)
        if not argv:
            continue
        if argv[:2] == ["pip", "install"]:
            extras = re.findall(r"\[(\w+)\]", " ".join(argv))
            assert set(extras) <= extras_in_setup(), f"{part}: an extra not in setup.py"
            continue
        if argv[0].endswith(".sh"):  # needs a GPU to run: here it must exist and parse
            script = ROOT / argv[0]
            assert script.is_file() and os.access(script, os.X_OK), f"{part}: no such script"
            subprocess.run(["bash", "-n", str(script)], check=True)
            continue
        assert argv[0] == "python", f"{part}: only python, pip and .sh commands are checked"
        if argv[1:3] == ["-m", "pytest"]:
            continue
        script = argv[1]
        assert (ROOT / script).is_file(), f"{part}: {script} does not exist"
        whole_lesson = script.startswith("lessons/") and "--check" not in argv
        if script.startswith("examples/") or whole_lesson:
            argv = argv + ["--help"]
        env = {**os.environ, **env, "MPLBACKEND": "Agg"}
        result = subprocess.run([sys.executable, *argv[1:]], cwd=ROOT, capture_output=True,
                                text=True, timeout=120, env=env)
        output = result.stdout + result.stderr
        assert "Traceback" not in output and result.returncode in (0, 1), \
            f"{part}:\n{output[-2000:]}"
