"""What a run prints while it trains: a progress bar, or a plain line every few steps."""
import sys
import time

from tqdm.auto import tqdm


class Progress:
    """One epoch's progress: running mean loss and images per second.

    ``bar=True``: a tqdm bar on stderr, when that is a terminal or a notebook; otherwise (log
    files and pipes, where a bar's carriage returns are noise) and with ``bar=False``, a plain
    line every ``every`` steps, with the time this epoch still needs (ETA) at its pace so far."""

    def __init__(self, epoch, epochs, total, start, sums, bar=True, every=20):
        self.title = f"epoch {epoch}/{epochs}"
        self.total, self.every, self.sums = total, max(1, every), sums
        self.start = start
        self.started, self.seconds_before = time.perf_counter(), sums.seconds
        self.bar = None
        if bar and can_draw_bar():
            self.bar = tqdm(total=total, initial=start, desc=self.title, unit="batch",
                            dynamic_ncols=True, leave=False, file=sys.stderr)

    def seconds(self):
        """Training seconds of this epoch so far, including before a resume."""
        return self.seconds_before + time.perf_counter() - self.started

    def step(self, step):
        """Show the state after ``step`` (1-based) steps of the epoch."""
        sums = self.sums
        loss, speed = sums.loss / max(sums.steps, 1), sums.images / max(self.seconds(), 1e-9)
        if self.bar is not None:
            self.bar.set_postfix_str(f"loss {loss:.4f}, {speed:.0f} images/s", refresh=False)
            self.bar.update(1)
        elif step % self.every == 0 or step == self.total:
            print(f"{self.title} step {step}/{self.total}: loss {loss:.4f}, "
                  f"{speed:.0f} images/s{self.eta(step)}", flush=True)

    def eta(self, step):
        """``, ETA 1:05`` for the rest of the epoch at this run's pace, or "" when done."""
        done = step - self.start
        if step >= self.total or done < 1:
            return ""
        left = (time.perf_counter() - self.started) / done * (self.total - step)
        return f", ETA {clock(left)} for this epoch"

    def close(self):
        if self.bar is not None:
            self.bar.close()


def clock(seconds):
    """1:05 or 1:02:05."""
    minutes, s = divmod(int(round(seconds)), 60)
    h, m = divmod(minutes, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def can_draw_bar():
    """Whether a progress bar can redraw itself: a terminal, or a Jupyter notebook."""
    return sys.stderr.isatty() or "ipykernel" in sys.modules


def epoch_summary(record, epochs):
    """One line for an epoch's log row."""
    known = ("epoch", "steps", "train_loss", "lr", "seconds", "images_per_second", "eval_seconds")
    line = (f"epoch {record['epoch']}/{epochs}: train loss {record['train_loss']:.4f}, "
            f"lr {record['lr']:.3g}, {record['seconds']:.1f} s, "
            f"{record['images_per_second']:.0f} images/s")
    evaluated = [f"{key} {value:.4f}" for key, value in record.items() if key not in known]
    if evaluated:
        line += f" | eval ({record['eval_seconds']:.1f} s): " + ", ".join(evaluated)
    left = epochs - record["epoch"]
    if left > 0:  # at this epoch's pace, evaluation included
        per_epoch = record["seconds"] + record.get("eval_seconds", 0.0)
        line += f" | about {clock(left * per_epoch)} left"
    return line
