"""``fit``: the training loop that every example uses.

    history = fit(model, optimizer, train_loader, loss_fn, epochs=10, out_dir="runs/demo",
                  evaluate=lambda m: {"accuracy": ...}, scheduler=scheduler)

Each step: move the batch to the device, ``loss = loss_fn(model, images, targets)``, check
that the loss is a finite number, ``backward()``, ``optimizer.step()``. After each epoch:
``scheduler.step()``, ``evaluate(model)`` (eval mode, no gradients), then ``out_dir`` gets

    checkpoint.npz   everything needed to continue exactly (see run_state.py)
    log.csv          one row per epoch: loss, lr, time, speed and the evaluate metrics
    best.npz         the weights of the best epoch, only when best_metric is given

``resume=True`` continues from ``out_dir/checkpoint.npz``: 2 epochs straight and 1 epoch +
resume + 1 epoch give the same weights, bit for bit. A folder that holds a run is never
overwritten unless ``overwrite=True`` (see run_folders.py).
"""
from __future__ import annotations

import inspect
import itertools
import math
import numbers
import time
from pathlib import Path
from typing import Any, Callable

from ..autograd import Tensor
from ..backend import check_device, device_of
from ..data.loader import DataLoader
from ..data.files import DatasetFormatError
from ..data.synthetic import SyntheticDataset
from ..nn import Module
from ..optim import LRScheduler, Optimizer
from ..serialization import save_checkpoint
from .evaluation import evaluation_mode, to_batch_device
from .guards import (NonFiniteLossError, TrainingDataError, check_finite_loss,
                     check_finite_weights)
from .interrupt import DeferredInterrupt, TrainingInterrupted
from .progress import Progress, epoch_summary
from .records import scalar_metrics, write_log_csv
from .run_folders import RUN_FILES, holds_run, refuse_existing_run
from .run_state import EpochSums, RunState, load_run, save_run


def fit(model: Module, optimizer: Optimizer, train_loader: DataLoader,
        loss_fn: Callable[[Module, Tensor, Any], Tensor], epochs: int, out_dir: str | Path,
        evaluate: Callable[[Module], dict[str, float]] | None = None,
        scheduler: LRScheduler | None = None, device: str = "cpu",
        resume: bool | str | Path = False, meta: dict[str, Any] | None = None,
        progress: bool = True, log_every: int = 20, description: str | None = None,
        best_metric: str | None = None, best_mode: str = "max",
        overwrite: bool = False) -> list[dict[str, Any]]:
    """Train ``model`` until ``epochs`` epochs are done in all (counting those before a
    resume); return the history, a list with one dict per epoch (the rows of log.csv).

    ``loss_fn(model, images, targets)`` returns the loss Tensor of one batch; it receives the
    images as a Tensor on ``device`` and the targets as arrays on ``device`` (each array of a
    dict or tuple of targets). ``evaluate(model)`` returns {name: number} after each epoch.
    ``resume``: False (start afresh), True (continue from out_dir/checkpoint.npz), "auto"
    (continue if that file exists) or the path of a checkpoint. Starting afresh where a run
    already is (out_dir/checkpoint.npz exists) raises RunFolderError unless ``overwrite=True``,
    which deletes that run's checkpoint.npz, log.csv, best.npz and metrics.json first.
    ``meta``: saved in every checkpoint (the model's name and arguments, ...).
    ``description``: one sentence saying what the data is (default ``meta["description"]``).
    ``progress``: a tqdm bar (when stderr is a terminal or a notebook; otherwise, and with
    progress=False, a plain line every ``log_every`` steps).
    ``best_metric``: an evaluate key; the best epoch's weights go to best.npz ("max" or
    "min" by ``best_mode``). Leave it None when evaluate scores the test split.

    Raises NonFiniteLossError on a NaN or infinite loss, and TrainingInterrupted (a
    KeyboardInterrupt) on Ctrl-C after saving; either way checkpoint.npz can be resumed.
    """
    run = TrainingRun(model, optimizer, train_loader, loss_fn, epochs, out_dir, evaluate,
                      scheduler, device, meta, description, progress, log_every,
                      best_metric, best_mode)
    run.start(resume, overwrite)
    return run.train()


class TrainingRun:
    """The state and the steps of one ``fit`` call (see ``fit`` for the arguments)."""

    def __init__(self, model, optimizer, loader, loss_fn, epochs, out_dir, evaluate, scheduler,
                 device, meta, description, progress, log_every, best_metric, best_mode):
        if isinstance(epochs, bool) or not isinstance(epochs, numbers.Integral) or epochs < 1:
            raise ValueError(f"fit: epochs must be a whole number >= 1 (the total, counting "
                             f"those before a resume), got {epochs!r}")
        if len(loader) == 0:
            raise ValueError("fit: the training loader gives no batches")
        if best_mode not in ("max", "min"):
            raise ValueError(f"best_mode must be 'max' or 'min', got {best_mode!r}")
        self.model, self.optimizer, self.loader, self.loss_fn = model, optimizer, loader, loss_fn
        self.epochs, self.evaluate, self.scheduler = epochs, evaluate, scheduler
        self.device = check_model_device(model, device)
        self.meta = dict(meta or {})
        self.description = description or self.meta.get("description")
        self.show_bar, self.log_every = progress, log_every
        self.best_metric, self.best_mode = best_metric, best_mode
        self.out_dir = Path(out_dir)
        self.checkpoint_path = self.out_dir / "checkpoint.npz"
        self.state = RunState(steps_per_epoch=len(loader))
        self.saved_at = None          # where the run stood when checkpoint.npz was written

    # --- starting -----------------------------------------------------------------------
    def start(self, resume, overwrite=False):
        """Print what is about to happen, then load the checkpoint or write the first one."""
        path = resume_path(resume, self.checkpoint_path)
        if path is None and holds_run(self.out_dir) and not overwrite:
            raise refuse_existing_run(self.out_dir)
        print(run_header(self), flush=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        if path is None:
            if overwrite:
                self.remove_earlier_run()
            self.save()                # a run stopped in its first epoch can resume too
            return
        given = base_learning_rates(self.optimizer)
        self.state, saved_meta = load_run(path, self.model, self.optimizer, self.scheduler,
                                          self.loader)
        self.saved_at = self.state.where()
        print(f"Resuming from {path}: {self.state.where()} ({self.state.global_step} steps done)",
              flush=True)
        if base_learning_rates(self.optimizer) != given:
            print(f"  note: the optimizer was built with lr {given}, but the run in {path} "
                  f"trained with {base_learning_rates(self.optimizer)}; resuming keeps the "
                  "checkpoint's (to train with another rate, start a new run)", flush=True)
        for line in meta_differences(saved_meta, self.meta):
            print(f"  note: {line}", flush=True)

    def remove_earlier_run(self):
        """overwrite=True: delete the files of the run that was in out_dir (no stale log or
        best.npz may sit beside the new checkpoint)."""
        earlier = [self.out_dir / name for name in RUN_FILES if (self.out_dir / name).exists()]
        for path in earlier:
            path.unlink()
        if earlier:
            print(f"  note: overwrite: removed the earlier run's "
                  f"{', '.join(p.name for p in earlier)} from {self.out_dir}", flush=True)

    # --- training -----------------------------------------------------------------------
    def train(self):
        """Run the remaining epochs; return the history."""
        if self.state.epochs_done >= self.epochs:
            print(f"Nothing to do: {self.state.epochs_done} of {self.epochs} epochs are done.")
            return self.state.history
        with DeferredInterrupt() as stop:
            try:
                for epoch in range(self.state.epochs_done, self.epochs):
                    if not self.train_epoch(epoch, stop):
                        self.save()    # stopped between two steps: an exact mid-epoch state
                        raise self.interrupted(exact=True)
                    self.finish_epoch(epoch)
                    if stop.requested:
                        raise self.interrupted(exact=True)
            except TrainingInterrupted:
                raise
            except KeyboardInterrupt as e:
                raise self.interrupted(exact=False) from e
        return self.state.history

    def train_epoch(self, epoch, stop):
        """Train on the epoch's batches (from where a resumed run stopped); return whether
        the epoch is complete (False when Ctrl-C asked to stop)."""
        state, sums = self.state, self.state.current
        self.model.train()
        start = state.step_in_epoch
        progress = Progress(epoch + 1, self.epochs, state.steps_per_epoch, start, sums,
                            bar=self.show_bar, every=self.log_every)
        batches = epoch_batches(self.loader, epoch, start)
        try:
            for step in itertools.count(start):
                try:
                    images, targets = next(batches)
                except StopIteration:
                    break
                except Exception as error:       # a corrupt image, a failing transform, ...
                    sums.seconds = progress.seconds()
                    failure = self.data_failed(error, f"while loading batch {step + 1}/"
                                               f"{state.steps_per_epoch} of epoch {epoch + 1}")
                    if failure is error:
                        raise
                    raise failure from error
                sums.loss += self.train_step(images, targets, epoch, step)
                sums.steps, sums.images = sums.steps + 1, sums.images + len(images)
                state.step_in_epoch, state.global_step = step + 1, state.global_step + 1
                progress.step(step + 1)
                if stop.requested and step + 1 < state.steps_per_epoch:
                    return False
        finally:
            sums.seconds = progress.seconds()
            progress.close()
        return True

    def train_step(self, images, targets, epoch, step):
        """One optimisation step; returns the loss as a float."""
        images, targets = to_batch_device(images, targets, self.device)
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model, images, targets)
        value, finite = check_finite_loss(loss)
        if not finite:
            raise NonFiniteLossError(value, epoch + 1, step + 1, self.state.steps_per_epoch,
                                     self.state.global_step + 1,
                                     first_sample(self.loader, epoch, step), self.kept())
        loss.backward()
        self.optimizer.step()
        return value

    def finish_epoch(self, epoch):
        """Step the schedule, evaluate, log, save."""
        state, sums = self.state, self.state.current
        lrs = [group["lr"] for group in self.optimizer.param_groups]
        lr = lrs[0]                                         # the rate this epoch trained with
        schedule = self.scheduler.state_dict() if self.scheduler is not None else None
        if self.scheduler is not None:
            self.scheduler.step()
        try:
            metrics, eval_seconds = self.run_evaluate()
        except Exception as error:       # e.g. a corrupt test image: keep the epoch's training
            if schedule is not None:     # back to the state before the schedule's step
                self.scheduler.load_state_dict(schedule)
            for group, rate in zip(self.optimizer.param_groups, lrs):
                group["lr"] = rate
            failure = self.data_failed(error, f"while evaluating after epoch {epoch + 1}")
            if failure is error:
                raise
            raise failure from error
        record = {"epoch": epoch + 1, "steps": state.global_step,
                  "train_loss": sums.loss / sums.steps, "lr": lr, "seconds": sums.seconds,
                  "images_per_second": sums.images / max(sums.seconds, 1e-9),
                  "eval_seconds": eval_seconds, **metrics}
        state.history.append(record)
        state.epochs_done, state.step_in_epoch, state.current = epoch + 1, 0, EpochSums()
        self.save_best(record)
        self.save()
        write_log_csv(self.out_dir / "log.csv", state.history)
        print(epoch_summary(record, self.epochs), flush=True)

    def run_evaluate(self):
        """(metrics, seconds) of ``evaluate(model)`` in eval mode without gradients."""
        if self.evaluate is None:
            return {}, 0.0
        started = time.perf_counter()
        with evaluation_mode(self.model):
            metrics = scalar_metrics(self.evaluate(self.model))
        return metrics, time.perf_counter() - started

    # --- saving -------------------------------------------------------------------------
    def save(self):
        """Write checkpoint.npz (atomically), refusing weights that are not finite."""
        check_finite_weights(self.model, f"at {self.state.where()}")
        save_run(self.checkpoint_path, self.model, self.optimizer, self.scheduler,
                 self.loader, self.state, self.meta, self.description)
        self.saved_at = self.state.where()

    def save_best(self, record):
        """Write best.npz when ``best_metric`` improved (before checkpoint.npz, so that a
        run killed in between redoes this epoch and writes the same best.npz again)."""
        if self.best_metric is None:
            return
        if self.best_metric not in record:
            raise KeyError(f"best_metric {self.best_metric!r} is not among the logged values "
                           f"{sorted(record)}")
        value, best = record[self.best_metric], self.state.best.get("value")
        improved = not math.isnan(value) and (
            best is None or (value > best if self.best_mode == "max" else value < best))
        if improved:
            self.state.best = {"metric": self.best_metric, "value": value, "epoch": record["epoch"]}
            check_finite_weights(self.model, f"at {self.state.where()}")
            save_checkpoint(self.out_dir / "best.npz", self.model, **self.state.best,
                            meta=self.meta, description=self.description)

    def data_failed(self, error, during):
        """Loading data failed ``during`` a step or the evaluation: save the run as it stands
        (between two steps, so exactly), print how to go on, and return the error to raise:
        TrainingDataError for a file that cannot be read, else ``error`` itself."""
        self.save()
        what = (f"{during}. Training stopped; {self.checkpoint_path} holds the run "
                f"{self.saved_at}: fix or replace the file, then continue with resume=True "
                "(the examples: --resume)")
        if isinstance(error, (DatasetFormatError, OSError)):
            return TrainingDataError(f"{error}, {what}")
        print(f"{type(error).__name__} {what}", flush=True)
        return error

    def kept(self):
        return f"{self.checkpoint_path} still holds the run {self.saved_at}."

    def interrupted(self, exact):
        """The TrainingInterrupted to raise, after printing how to resume."""
        if exact:
            what = f"Training stopped; {self.checkpoint_path} holds the run {self.saved_at}."
        else:
            what = (f"Training stopped at once, mid-step or mid-evaluation; "
                    f"{self.checkpoint_path} holds the last state saved, {self.saved_at} "
                    "(the steps after it are lost).")
        message = f"{what} Continue with resume=True (the examples: --resume)."
        print(message, flush=True)
        return TrainingInterrupted(message, self.checkpoint_path, self.state.epochs_done,
                                   self.state.step_in_epoch, exact)


# --- small helpers -------------------------------------------------------------------------
def check_model_device(model, device):
    device = check_device(device)
    first = next(iter(model.parameters()), None)
    if first is not None and device_of(first.data) != device:
        raise ValueError(f"fit(device={device!r}) but the model is on {device_of(first.data)}: "
                         f"call model.to({device!r}) before building the optimiser")
    return device


def base_learning_rates(optimizer):
    """Each group's starting learning rate (before any schedule), as a list."""
    return [group.get("initial_lr", group["lr"]) for group in optimizer.param_groups]


def resume_path(resume, checkpoint_path):
    """The checkpoint to resume from, or None to start afresh."""
    if resume is None or resume is False:
        return None
    path = checkpoint_path if resume is True or resume == "auto" else Path(resume)
    if path.exists():
        return path
    if resume == "auto":
        return None
    raise FileNotFoundError(f"resume: there is no checkpoint at {path}; "
                            "start without resume to train from the beginning")


def epoch_batches(loader, epoch, start):
    """The batches of epoch ``epoch`` (0-based) from batch ``start`` on. A loader with
    ``set_epoch`` (DataLoader) draws that epoch's order; any other iterable is read afresh
    and its first ``start`` batches are skipped."""
    set_epoch = getattr(loader, "set_epoch", None)
    if set_epoch is not None and "start_batch" in inspect.signature(set_epoch).parameters:
        set_epoch(epoch, start_batch=start)
        return iter(loader)
    if set_epoch is not None:
        set_epoch(epoch)
    return itertools.islice(iter(loader), start, None)


def first_sample(loader, epoch, step):
    """The dataset index of the first sample of a batch, when the loader can tell."""
    try:
        return int(loader.batch_indices(epoch)[step][0])
    except (AttributeError, IndexError, TypeError):
        return None


def run_header(run):
    """The first lines a run prints: device, data size, whether the data is synthetic."""
    dataset = getattr(run.loader, "dataset", None)
    size = f"{len(dataset)} training samples" if dataset is not None else "training data"
    synthetic = isinstance(dataset, SyntheticDataset)
    about = run.description or (
        f"{type(dataset).__name__}" + (" (synthetic)" if synthetic else "")
        + "; pass description= (or meta['description']) to say what the data is")
    return (f"Training on {run.device}: {size}{' (SYNTHETIC)' if synthetic else ''}, "
            f"{len(run.loader)} batches per epoch, {run.epochs} epochs\n"
            f"  outputs: {run.out_dir}\n"
            f"  data: {about}")


def meta_differences(saved, given):
    """Lines naming each meta value that differs between a checkpoint and this call."""
    return [f"meta[{key!r}] was {saved.get(key)!r} in the checkpoint, is {given.get(key)!r} now"
            for key in sorted(set(saved) | set(given))
            if key != "description" and _plain(saved.get(key)) != _plain(given.get(key))]


def _plain(value):
    """Tuples as lists, as they come back from a checkpoint's JSON."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value
