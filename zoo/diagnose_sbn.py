"""Variance of φ-gradients of score-function estimators at an SBN checkpoint.

  python -m zoo.diagnose_sbn --workdir=runs/nvil_sbn200
  python -m zoo.diagnose_sbn --workdir=DIR --estimators=reinforce,nvil,iwae_reinforce:5,vimco:5 \\
      --num_draws=200 --batch_size=24

Estimators (``name`` or ``name:K``; see tfiw/diagnostics_sbn.py): ``reinforce[:K]``,
``nvil`` (needs an NVIL checkpoint: its baseline network and running mean; reported
without variance normalisation), ``iwae_reinforce:K``, ``vimco:K``. All are evaluated with
the checkpoint's p and q on the same fixed minibatch (the first ``batch_size`` training
examples). Writes DIR/grad_variance.json (or --out) and prints a table.
"""
import json
import sys

from absl import app, flags

from zoo import cli, workdir as wd

_WORKDIR = flags.DEFINE_string("workdir", None, "A zoo.train run of an SBN (model.keras).")
_OUT = flags.DEFINE_string("out", None, "Output JSON (default WORKDIR/grad_variance.json).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local .npz datasets (default: the run's "
                                "recorded data_dir, else $TFIW_DATA_DIR).")
_ESTIMATORS = flags.DEFINE_list("estimators", ["reinforce", "nvil", "iwae_reinforce:5",
                                               "vimco:5", "vimco:50"],
                                "Estimator specs, name or name:K (reinforce[:K], nvil, "
                                "iwae_reinforce:K, vimco:K).")
_NUM_DRAWS = flags.DEFINE_integer("num_draws", 200, "Independent gradient draws each.")
_BATCH = flags.DEFINE_integer("batch_size", 24, "Size of the fixed minibatch.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the draws.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  from tfiw import diagnostics_sbn
  from zoo import trainer

  try:
    cfg, model = wd.load_run(_WORKDIR.value)
  except (FileNotFoundError, wd.WorkdirBusy) as e:
    sys.exit(f"zoo.diagnose_sbn: error: {e}")
  if getattr(model, "family", None) != "bernoulli":
    raise app.UsageError(f"{_WORKDIR.value} holds a {type(model).__name__}, not a sigmoid "
                         "belief network; use zoo.diagnose for Gaussian-latent models")
  splits = trainer.load_data(cfg, _DATA_DIR.value)
  x = splits.train[:_BATCH.value]
  if splits.dynamic:
    from tfiw import data as tfiw_data
    x = tfiw_data.binarize(x, tfiw_data.TEST_BINARIZATION_SEED)
  results = diagnostics_sbn.gradient_variance(model, x, _ESTIMATORS.value, _NUM_DRAWS.value,
                                              seed=_SEED.value)
  out = _OUT.value or wd.grad_variance_path(_WORKDIR.value)
  payload = {"workdir": _WORKDIR.value, "method": cfg.method.name, "dataset": cfg.data.name,
             "step": (int(model.optimizer.iterations.numpy())
                      if getattr(model, "optimizer", None) is not None else None),
             "estimators": results}
  with open(out, "w") as f:
    json.dump(payload, f, indent=2)
  print(f"φ-gradient variance at {_WORKDIR.value} ({cfg.method.name}), batch {x.shape[0]}, "
        f"{_NUM_DRAWS.value} draws:")
  print(diagnostics_sbn.format_table(results))
  print(f"Wrote {out}")


if __name__ == "__main__":
  cli.run(main, "zoo.diagnose_sbn")
