"""Everything a training run must remember to continue exactly where it stopped.

The checkpoint (``serialization.save_checkpoint``: one ``.npz``, written atomically) holds
the model and the optimiser, plus these entries:

    run         RunState: epochs done, steps done, the step reached inside an unfinished
                epoch and that epoch's running sums, the history, the best result so far
    scheduler   the learning-rate schedule's state_dict (or None)
    rng         minifaceattr.random.get_state(): dropout masks, random initialisers
    loader      the data order: {"seed", "epoch", "start_batch"}; the DataLoader draws each
                epoch's order and augmentations from (seed, epoch), so this is all it needs
    meta        the caller's meta (model name and arguments, ...) and the data description

Restoring all of them and skipping the batches already trained on gives the same numbers
as a run that never stopped.
"""
from dataclasses import asdict, dataclass, field

from .. import random as library_random
from ..serialization import load_checkpoint, save_checkpoint


@dataclass
class EpochSums:
    """Running sums of the epoch in progress (the epoch's log row is made from them)."""
    loss: float = 0.0
    steps: int = 0
    images: int = 0
    seconds: float = 0.0


@dataclass
class RunState:
    """Where a run stands. ``step_in_epoch`` > 0 means epoch ``epochs_done`` is part-done."""
    epochs_done: int = 0
    global_step: int = 0
    step_in_epoch: int = 0
    steps_per_epoch: int = 0
    current: EpochSums = field(default_factory=EpochSums)
    history: list = field(default_factory=list)
    best: dict = field(default_factory=dict)     # {"metric", "value", "epoch"} once known

    def where(self):
        """Where the run is, in words ("after epoch 2", "epoch 3, after step 5/12")."""
        if self.step_in_epoch:
            return (f"epoch {self.epochs_done + 1}, after step "
                    f"{self.step_in_epoch}/{self.steps_per_epoch}")
        return f"after epoch {self.epochs_done}" if self.epochs_done else "before the first step"

    @classmethod
    def from_saved(cls, saved):
        saved = dict(saved)
        saved["current"] = EpochSums(**saved["current"])
        return cls(**saved)


def save_run(path, model, optimizer, scheduler, loader, state, meta, description):
    """Write the whole run state to ``path`` (atomically)."""
    save_checkpoint(path, model, optimizer,
                    run=asdict(state),
                    scheduler=scheduler.state_dict() if scheduler is not None else None,
                    rng=library_random.get_state(),
                    loader={"seed": getattr(loader, "seed", None),
                            "epoch": state.epochs_done, "start_batch": state.step_in_epoch},
                    meta=meta, description=description)


def load_run(path, model, optimizer, scheduler, loader):
    """Restore model, optimiser, schedule and random generator from ``path``; check that the
    loader draws the same data order. Returns (RunState, saved meta)."""
    saved = load_checkpoint(path, model, optimizer)
    missing = [key for key in ("run", "scheduler", "rng", "loader", "meta") if key not in saved]
    if missing:
        raise ValueError(f"{path}: not a checkpoint written by fit (it has no "
                         f"{', '.join(missing)}), so it cannot be resumed; start a new run")
    if (saved["scheduler"] is None) != (scheduler is None):
        has = "has" if saved["scheduler"] is not None else "has no"
        raise ValueError(f"{path} {has} a learning-rate schedule, but fit() was given "
                         f"scheduler={scheduler!r}; pass the same kind of schedule as before")
    if scheduler is not None:
        scheduler.load_state_dict(saved["scheduler"])
    library_random.set_state(saved["rng"])
    saved_seed, seed = saved["loader"]["seed"], getattr(loader, "seed", None)
    if saved_seed != seed:
        raise ValueError(f"{path} was trained with a loader of seed {saved_seed}, this loader "
                         f"has seed {seed}: the data order would differ. Resume with the same "
                         "seed.")
    try:
        state = RunState.from_saved(saved["run"])
    except (TypeError, KeyError) as e:
        raise ValueError(f"{path}: the run state in this checkpoint is damaged ({e})") from e
    if state.step_in_epoch and len(loader) != state.steps_per_epoch:
        raise ValueError(f"{path} stopped at step {state.step_in_epoch} of an epoch of "
                         f"{state.steps_per_epoch} batches; this loader has {len(loader)} "
                         "batches per epoch (another batch size or dataset?)")
    state.steps_per_epoch = len(loader)
    return state, saved["meta"]
