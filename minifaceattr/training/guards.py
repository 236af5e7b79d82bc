"""Stop a run as soon as numbers stop being numbers: a NaN or infinite loss, or weights.

A NaN loss is almost never a one-off: the gradient of that step is NaN too, and one
``optimizer.step()`` with it poisons every weight for good. So the loop checks each loss
*before* ``backward()`` and stops with an error that says where it happened; the checkpoint
on disk stays the last good one, since nothing is saved after the error.
"""
import math

from ..backend import get_array_module


class NonFiniteError(FloatingPointError):
    """Base class: a training run met a NaN or an infinity."""


class NonFiniteLossError(NonFiniteError):
    """The loss of one training step is NaN or infinite.

    ``epoch`` and ``step`` are 1-based (as printed), ``global_step`` counts every step of
    the run, ``first_sample`` is the dataset index of the batch's first sample (or None)."""

    def __init__(self, value, epoch, step, steps_per_epoch, global_step, first_sample, kept):
        self.value, self.epoch, self.step = value, epoch, step
        self.global_step, self.first_sample = global_step, first_sample
        where = f"epoch {epoch}, step {step}/{steps_per_epoch} (step {global_step} of the run)"
        if first_sample is not None:
            where += f", in the batch that starts with sample {first_sample}"
        super().__init__(
            f"the loss is {value} at {where}. Training stopped before this step changed any "
            f"weight; nothing was saved. {kept} Try a lower learning rate, or check the "
            "inputs, the targets and the loss function.")


class TrainingDataError(ValueError):
    """A batch could not be loaded mid-epoch (a corrupt or missing image). The run was saved
    just before that batch, so it resumes exactly once the file is fixed."""


class NonFiniteWeightsError(NonFiniteError):
    """A parameter holds NaN or infinite values (caught before it is saved)."""


def check_finite_loss(loss):
    """The loss as a Python float, and whether it is finite. Reading it waits for the GPU."""
    value = float(loss.item())
    return value, math.isfinite(value)


def check_finite_weights(model, when):
    """Raise NonFiniteWeightsError naming the first parameter with a NaN or an infinity."""
    for name, p in model.named_parameters():
        xp = get_array_module(p.data)
        if not bool(xp.isfinite(p.data).all()):
            raise NonFiniteWeightsError(
                f"parameter {name!r} holds NaN or infinite values {when}; not saving it, so "
                "the checkpoint on disk stays the last good one")
