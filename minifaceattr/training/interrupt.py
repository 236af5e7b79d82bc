"""Ctrl-C during training: finish the current step, save, then stop.

Pressing Ctrl-C raises ``KeyboardInterrupt`` wherever Python happens to be: perhaps half-way
through ``optimizer.step()``, with some weights updated and others not, or after batch norm
has updated its running averages for a batch that will never be trained on. A checkpoint
taken then would not be a state the run ever passed through.

So while ``fit`` runs, the first Ctrl-C only raises a flag (``DeferredInterrupt``); the loop
looks at it between steps, where the model, optimiser, random generator and data order are
consistent, saves that state exactly and stops with ``TrainingInterrupted``. A second
Ctrl-C stops at once, and then the last checkpoint already on disk is the one to resume from.
"""
import signal
import sys
import threading


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C. ``checkpoint``: the file to resume from; ``epochs_done``
    and ``step_in_epoch``: where it resumes; ``exact``: whether it holds the state at the
    moment training stopped (else the last state saved before it)."""

    def __init__(self, message, checkpoint, epochs_done, step_in_epoch, exact):
        super().__init__(message)
        self.checkpoint, self.exact = checkpoint, exact
        self.epochs_done, self.step_in_epoch = epochs_done, step_in_epoch


class DeferredInterrupt:
    """``with DeferredInterrupt() as stop: ... if stop.requested: ...``

    Only the main thread can handle signals, and a handler that someone else installed is
    left alone; in both cases ``installed`` is False and Ctrl-C raises as usual."""

    def __init__(self):
        self.requested = False
        self.installed = False
        self.previous = None

    def __enter__(self):
        in_main = threading.current_thread() is threading.main_thread()
        if in_main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self.handle)
            self.installed = True
        return self

    def handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: saving a checkpoint after the current step, then stopping "
              "(press Ctrl-C again to stop at once, without saving)", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        if self.installed:
            signal.signal(signal.SIGINT, self.previous)
        return False
