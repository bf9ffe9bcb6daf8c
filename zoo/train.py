"""Train a tfiw model from a config file, then print its test log-likelihood.

  python -m zoo.train --config=configs/iwae.py:k=5 --workdir=runs/iwae_k5
  python -m zoo.train --config=configs/iwae.py --config.method.num_samples=5 --workdir=DIR

Running the same command again resumes an interrupted run; a finished run says so.
"""
from absl import app, flags
from ml_collections import config_flags

from zoo import trainer

_CONFIG = config_flags.DEFINE_config_file("config", None, "Config file.", lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Checkpoints, logs and results go here.")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local .npz datasets (else $TFIW_DATA_DIR).")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  trainer.train_and_evaluate(_CONFIG.value, _WORKDIR.value, _DATA_DIR.value)


if __name__ == "__main__":
  app.run(main)
