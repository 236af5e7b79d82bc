"""Where a run writes, so that starting again never loses a finished run.

A folder *holds a run* when it has a ``checkpoint.npz``. Two conventions users already know:

- ``fit`` into a folder that holds a run continues it (``resume=True``) or replaces it
  (``overwrite=True``, as Hugging Face's ``overwrite_output_dir``); with neither it stops.
- The examples write to ``runs/<script>/<variant>`` by default; when that holds an earlier run
  and neither ``--resume`` nor ``--overwrite`` is given, the new run goes to the next free
  numbered folder, ``<variant>-2``, ``-3``, ... (Lightning's ``version_N`` habit). A folder
  named with ``--out`` is never renumbered: it is refused instead.

    folder, note = choose_run_folder("train_lfwa", "full", out=args.out, resume=args.resume,
                                     overwrite=args.overwrite)
"""
from pathlib import Path

CHECKPOINT = "checkpoint.npz"
RUN_FILES = ("checkpoint.npz", "log.csv", "best.npz", "metrics.json")   # what fit leaves behind


class RunFolderError(ValueError):
    """A run would overwrite another one, or the options contradict each other."""


def holds_run(folder):
    """Whether ``folder`` holds a run (a checkpoint.npz)."""
    return (Path(folder) / CHECKPOINT).exists()


def refuse_existing_run(folder, resume_flag="resume=True", overwrite_flag="overwrite=True"):
    """The RunFolderError for starting afresh in a folder that holds a run."""
    return RunFolderError(f"{folder} already holds a run ({Path(folder) / CHECKPOINT}); pass "
                          f"{resume_flag} to continue it or {overwrite_flag} to replace it")


def next_free_folder(folder):
    """``folder`` itself when it holds no run, else the first of ``folder-2``, ``folder-3``,
    ... that holds none."""
    folder = Path(folder)
    candidate, k = folder, 2
    while holds_run(candidate):
        candidate, k = folder.with_name(f"{folder.name}-{k}"), k + 1
    return candidate


def choose_run_folder(script, variant, out=None, resume=False, overwrite=False, root="runs"):
    """``(folder, note)`` for a command-line run: ``out`` when given, else
    ``root/script/variant`` or, when that holds a run and neither ``resume`` nor ``overwrite``
    is set, the next free numbered folder. ``note`` is one line to print (or None). Raises
    RunFolderError for an ``out`` that holds a run (without ``resume``/``overwrite``) and for
    ``resume`` together with ``overwrite``."""
    if resume and overwrite:
        raise RunFolderError("--resume continues a run and --overwrite replaces it: pass one "
                             "of them, not both")
    default = Path(root) / script / variant
    folder = Path(out) if out is not None else default
    if resume or not holds_run(folder):
        return folder, None
    if overwrite:
        return folder, f"--overwrite: the run in {folder} is replaced by this one"
    if out is not None:
        raise refuse_existing_run(folder, "--resume", "--overwrite")
    new = next_free_folder(default)
    return new, (f"{default} holds an earlier run, kept as it is; this run writes to {new} "
                 f"(continue it later with --resume --out {new})")


def check_lr_with_resume(lr, resume):
    """A command line's ``--lr`` (None when not given) with ``--resume`` is refused, never
    dropped: a resumed run keeps the schedule in its checkpoint, so that it continues exactly."""
    if resume and lr is not None:
        raise RunFolderError(f"--lr {lr:g} cannot be combined with --resume: a resumed run keeps "
                             "the learning-rate schedule saved in its checkpoint, so that it "
                             "continues exactly; drop --lr, or start a new run with it "
                             "(--overwrite, or another --out)")
