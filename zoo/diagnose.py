"""Gradient signal-to-noise ratio of θ and φ against K, per estimator (tfiw.diagnostics).

  # a trained run (zoo.train wrote DIR/model.keras and DIR/config.json):
  python -m zoo.diagnose --workdir=runs/iwae_k50
  # the initial (untrained) model of a config:
  python -m zoo.diagnose --config=configs/iwae.py --out=runs/snr_init
  # options:
  python -m zoo.diagnose --workdir=DIR --estimators=iwae,stl,dreg --ks=1,10,100,1000 \\
      --num_draws=200 --batch_size=20

Writes OUT/snr.json and OUT/snr.png (OUT defaults to WORKDIR/diagnostics). The minibatch
is the first ``batch_size`` training examples of the run's data set. ``--estimators=model``
uses the checkpoint's own estimator and varies only K (works for any method).
"""
import os
import sys

from absl import app, flags
from ml_collections import config_flags

from zoo import cli, workdir as wd

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "A config file (configs/X.py[:args]): diagnose its initial, untrained "
    "model instead of a trained run.")
_WORKDIR = flags.DEFINE_string("workdir", None, "A zoo.train run with model.keras.")
_OUT = flags.DEFINE_string("out", None, "Output folder (default WORKDIR/diagnostics; "
                           "required with --config).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local .npz datasets (default: the run's "
                                "recorded data_dir, else $TFIW_DATA_DIR).")
_ESTIMATORS = flags.DEFINE_list("estimators", ["iwae", "stl", "dreg"],
                                "Gradient estimators to compare (tfiw.diagnostics names), "
                                "or 'model' for the checkpoint's own.")
_KS = flags.DEFINE_list("ks", ["1", "3", "10", "30", "100", "300"], "Sample sizes K.")
_NUM_DRAWS = flags.DEFINE_integer("num_draws", 100, "Gradient draws per (estimator, K).")
_BATCH = flags.DEFINE_integer("batch_size", 20, "Size of the fixed minibatch.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the draws.")
_JIT = flags.DEFINE_bool("jit_compile", True, "Compile each gradient function with XLA.")


def main(argv):
  del argv
  import keras
  from tfiw import diagnostics
  from zoo import trainer

  if (_WORKDIR.value is None) == (_CONFIG.value is None):
    raise app.UsageError("give exactly one of --workdir (trained) or --config (initial)")
  if _WORKDIR.value:
    try:
      cfg, model = wd.load_run(_WORKDIR.value)
    except (FileNotFoundError, wd.WorkdirBusy) as e:
      sys.exit(f"zoo.diagnose: error: {e}")
    source = wd.model_path(_WORKDIR.value)
  else:
    cfg = _CONFIG.value
    keras.utils.set_random_seed(cfg.seed)
  splits = trainer.load_data(cfg, _DATA_DIR.value)
  if _CONFIG.value is not None:
    model = trainer.initial_model(cfg, splits.train, splits.likelihood)
    source = "initial model of the config"
  out = _OUT.value or (wd.diagnostics_dir(_WORKDIR.value) if _WORKDIR.value else None)
  if out is None:
    raise app.UsageError("--out is required with --config")
  os.makedirs(out, exist_ok=True)
  x = splits.train[:_BATCH.value]  # fixed binarization: as trained; dynamic: intensities
  if splits.dynamic:
    from tfiw import data as tfiw_data
    x = tfiw_data.binarize(x, tfiw_data.TEST_BINARIZATION_SEED)
  results = diagnostics.snr_sweep(
      model, x, _ESTIMATORS.value, [int(k) for k in _KS.value], _NUM_DRAWS.value,
      seed=_SEED.value, jit_compile=_JIT.value, log=print)
  results.update(model=source, method=cfg.method.name, dataset=cfg.data.name)
  diagnostics.save_json(results, os.path.join(out, "snr.json"))
  diagnostics.plot_snr(results, os.path.join(out, "snr.png"),
                       title=f"Gradient SNR, {cfg.method.name} checkpoint ({source})")
  print(f"Wrote {out}/snr.json and {out}/snr.png")


if __name__ == "__main__":
  cli.run(main, "zoo.diagnose")
