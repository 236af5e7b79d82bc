"""What the example commands share: help that shows their defaults, a first line with the
settings, and user errors as one sentence instead of a traceback.

    p = argparse.ArgumentParser(...)
    ...
    show_defaults(p, synthetic=SYNTHETIC, paper=PAPER)
    run_command(main)            # in ``if __name__ == "__main__":``
"""
import argparse
import os
import sys

from ..backend import import_cupy


class UsageError(Exception):
    """A mistake in how a command was called (a setting, a missing GPU): said in one sentence."""


USER_ERRORS = (UsageError, OSError, ValueError)  # OSError: a missing file or folder


def show_defaults(parser, synthetic=None, paper=None, cpu_real=None):
    """Append each option's default to its help: every value where the synthetic, the paper's
    (``--data-root``) and, if given, the real-data-on-a-CPU settings differ, else the one
    default."""
    synthetic, paper, cpu_real = synthetic or {}, paper or {}, cpu_real or {}
    where = "with --data-root on a GPU" if cpu_real else "with --data-root"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        key, help_text = action.dest, action.help or ""
        if key in synthetic or key in paper or key in cpu_real:
            values = [f"{synthetic[key]} on synthetic faces" if key in synthetic else None,
                      f"{paper[key]} {where}, as in the paper" if key in paper else None,
                      f"{cpu_real[key]} with --data-root on a CPU" if key in cpu_real else None]
            default = "; ".join(v for v in values if v)
        elif not (action.default is None or action.default is False
                  or action.default == argparse.SUPPRESS):
            default = str(action.default)
        else:
            continue
        action.help = f"{help_text} (default: {default})".lstrip().replace("%", "%%")


def settings_line(args, keys):
    """``settings: epochs 6, batch_size 32, ...`` for the first lines of a run."""
    return "settings: " + ", ".join(f"{key} {getattr(args, key)}" for key in keys
                                    if getattr(args, key, None) is not None)


def require_device(device):
    """``device`` itself, or a UsageError saying why "cuda" cannot be used here."""
    if device == "cuda":
        try:
            import_cupy()
        except RuntimeError as e:
            raise UsageError(f"{e}; run on the CPU with --device cpu") from None
    return device


def run_command(main, argv=None):
    """Run ``main(argv)``. A user error (``USER_ERRORS``) prints ``error: <its sentence>`` on
    stderr (one line) and exits with status 2; ``MINIFACEATTR_TRACEBACK=1`` shows the traceback
    instead (the README says so)."""
    try:
        return main(argv)
    except USER_ERRORS as e:
        if os.environ.get("MINIFACEATTR_TRACEBACK"):
            raise
        name = "" if isinstance(e, (UsageError, ValueError)) else f"{type(e).__name__}: "
        print(f"error: {name}{e}", file=sys.stderr)  # one line; the traceback is for us
        sys.exit(2)
