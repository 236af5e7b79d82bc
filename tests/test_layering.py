"""The library's layers point one way: a model, a layer or an operator does not know the
training loop (training imports models, never the reverse)."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minifaceattr"
LOWER_LAYERS = ["models", "nn", "functional", "kernels", "data"]


def imported_modules(path):
    """Every module that ``path`` imports, relative imports resolved against the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = parts[:len(parts) - node.level] if node.level else ()
            module = ".".join(base + ((node.module,) if node.module else ()))
            yield module
            yield from (f"{module}.{alias.name}" for alias in node.names)


@pytest.mark.parametrize("layer", LOWER_LAYERS)
def test_lower_layers_do_not_import_training(layer):
    offenders = [f"{path.relative_to(PACKAGE.parent)} imports {name}"
                 for path in sorted((PACKAGE / layer).rglob("*.py"))
                 for name in imported_modules(path)
                 if name == "minifaceattr.training" or name.startswith("minifaceattr.training.")]
    assert not offenders, "; ".join(offenders)


def test_the_check_sees_relative_imports():
    path = PACKAGE / "training" / "evaluation.py"
    assert "minifaceattr.models.hmtnet_loss" in set(imported_modules(path))


LESSONS = PACKAGE.parent / "lessons"


def lesson_imports():
    """(lesson file, module, name) for every ``from minifaceattr... import name`` of a lesson
    or an answer key."""
    for path in sorted(LESSONS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("minifaceattr"):
                yield from ((path.name, node.module, alias.name) for alias in node.names)


def test_lessons_import_only_public_names():
    """A lesson imports a module's name only if the module lists it in ``__all__`` (or it is a
    package's name or a submodule), so internals can move without breaking the course."""
    import importlib.util
    private = []
    for lesson, module_name, name in lesson_imports():
        module = importlib.import_module(module_name)
        is_package = hasattr(module, "__path__")
        is_submodule = importlib.util.find_spec(f"{module_name}.{name}") is not None \
            if is_package else False
        if not (is_package or is_submodule or name in getattr(module, "__all__", ())):
            private.append(f"{lesson}: {module_name}.{name}")
    assert not private, "not in the module's __all__: " + "; ".join(private)


def test_the_public_name_check_sees_lessons():
    assert ("05_convolution_im2col.py", "minifaceattr.functional.conv", "im2col_numpy") in \
        set(lesson_imports())
