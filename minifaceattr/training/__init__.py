"""Training: the loop every example uses, evaluation, and what a run writes to disk.

    from minifaceattr.training import fit, evaluate_attributes, write_metrics_json
    history = fit(model, optimizer, train_loader, loss_fn, epochs, "runs/demo",
                  evaluate=evaluate, scheduler=scheduler, resume=args.resume,
                  meta={"model": "MGGNet", "width": 32}, description="SYNTHETIC faces ...")

Files: ``loop.py`` (fit), ``run_state.py`` (what a checkpoint holds), ``guards.py`` (NaN
and infinity), ``interrupt.py`` (Ctrl-C), ``progress.py`` (bars and lines), ``records.py``
(log.csv, metrics.json), ``evaluation.py`` (evaluate_attributes, evaluate_hmtnet),
``run_folders.py`` (where a run writes; never over another run).
"""
from .evaluation import evaluate_attributes, evaluate_hmtnet, evaluation_mode
from .guards import (NonFiniteError, NonFiniteLossError, NonFiniteWeightsError,
                     TrainingDataError)
from .interrupt import TrainingInterrupted
from .loop import fit
from .records import read_log_csv, write_log_csv, write_metrics_json
from .run_folders import RunFolderError, check_lr_with_resume, choose_run_folder

__all__ = ["fit", "evaluate_attributes", "evaluate_hmtnet", "evaluation_mode",
           "write_metrics_json", "write_log_csv", "read_log_csv", "NonFiniteError",
           "NonFiniteLossError", "NonFiniteWeightsError", "TrainingInterrupted", "RunFolderError",
           "choose_run_folder", "check_lr_with_resume", "TrainingDataError"]
