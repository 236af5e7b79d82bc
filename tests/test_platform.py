"""Installing and compiling off Linux: setup.py's platform markers, the emulator's compiler."""
import ast
from pathlib import Path

import pytest

from minifaceattr.kernels import emulator

ROOT = Path(__file__).resolve().parents[1]


def cuda_marker():
    tree = ast.parse((ROOT / "setup.py").read_text())
    node = next(n for n in tree.body
                if isinstance(n, ast.Assign) and n.targets[0].id == "CUDA_WHEELS")
    return ast.literal_eval(node.value)


@pytest.mark.parametrize("platform, machine, wanted", [
    ("linux", "x86_64", True), ("linux", "aarch64", True), ("win32", "AMD64", True),
    ("darwin", "arm64", False), ("darwin", "x86_64", False), ("win32", "ARM64", False),
])
def test_cuda_only_test_packages_are_marked_for_their_wheels(platform, machine, wanted):
    markers = pytest.importorskip("packaging.markers")
    marker = markers.Marker(cuda_marker())
    assert marker.evaluate({"sys_platform": platform, "platform_machine": machine}) is wanted


def test_emulator_falls_back_to_clang_and_says_how_to_set_cxx(monkeypatch):
    found = {"clang++"}
    monkeypatch.delenv("CXX", raising=False)
    monkeypatch.setattr(emulator.shutil, "which", lambda c: c if c in found else None)
    monkeypatch.setattr(emulator.subprocess, "run", lambda *a, **k: type("R", (), {"stdout": "v"}))
    emulator.compiler.cache_clear()
    try:
        assert emulator.compiler() == ("clang++", "v")
        found.clear()
        emulator.compiler.cache_clear()
        with pytest.raises(RuntimeError, match="found none of.*set CXX"):
            emulator.compiler()
        monkeypatch.setenv("CXX", "my-c++")
        emulator.compiler.cache_clear()
        with pytest.raises(RuntimeError, match=r"\['my-c\+\+'\]"):
            emulator.compiler()
    finally:
        emulator.compiler.cache_clear()
