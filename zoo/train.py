"""Train a tfiw model from a config file, then print its test log-likelihood.

  python -m zoo.train --config=configs/iwae.py:k=5 --workdir=runs/iwae_k5
  python -m zoo.train --config=configs/iwae.py --config.method.num_samples=5 --workdir=DIR

Running the same command again resumes an interrupted run ("resuming from epoch N"); a
finished run says so, and a larger --config.train.epochs continues it. A bad config, bad
data, a workdir another process trains in, or a loss that turns NaN/inf ends with a
one-paragraph message and exit status 1.
"""
import sys

from absl import flags
from ml_collections import config_flags

from tfiw import data as tfiw_data, validation
from zoo import cli, trainer, workdir as wd

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file, configs/X.py[:arg1,arg2=v] (configs/X.py:runlocal: a "
    "seconds-long run); override a field with --config.a.b=v.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "The run directory: config, backup, logs, "
                               "model and results go here (layout: zoo/workdir.py).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local .npz datasets (else $TFIW_DATA_DIR); "
                                "recorded in config.json for zoo.evaluate and resuming.")
flags.mark_flags_as_required(["config", "workdir"])

# What ends a run with a message instead of a traceback.
EXPECTED_ERRORS = (trainer.ConfigError, validation.DataError, tfiw_data.DatasetNotAvailable,
                   trainer.NonFiniteError, wd.WorkdirBusy)


def main(argv):
  del argv
  try:
    trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value, _DATA_DIR.value)
  except EXPECTED_ERRORS as e:
    sys.exit(f"zoo.train: error: {e}")


if __name__ == "__main__":
  cli.run(main, "zoo.train")
