"""Export a trained run as a SavedModel (signatures: log_prob, log_prob_k, sample, encode).

  python -m export.savedmodel --workdir=runs/quickstart --output=exported/quickstart
  python -m export.savedmodel --workdir=runs/quickstart --output=exported/k100 --num_samples=100

The SavedModel needs neither tfiw nor tensorflow-probability to load; score images with it
using ``python export/score.py --model=exported/quickstart --data=x.npy`` (export/README.md
lists the signatures). ``assets/config.json`` inside it records the run's config, its
results.json, the exported K and seed, and the image shape.
"""
import sys

from absl import flags

import tfiw
from tfiw import export, images
from zoo import cli, workdir as wd


def _define_flags():
  """Flags are defined only when run as a program, so importing ``export_run`` next to
  other absl tools (zoo.evaluate also has --workdir) cannot clash."""
  flags.DEFINE_string("workdir", None, "A zoo.train run directory whose training has ended "
                      "(it holds model.keras).")
  flags.DEFINE_string("output", None, "SavedModel directory to write.")
  flags.DEFINE_integer("num_samples", None,
                       "K for the log_prob signature (default: config export K).")
  flags.DEFINE_integer("seed", None, "Seed of log_prob/log_prob_k (default: config seed).")
  flags.mark_flags_as_required(["workdir", "output"])


def export_run(workdir, output, num_samples=None, seed=None):
  model = wd.load_model(workdir)  # (FileNotFoundError naming the training command)
  cfg = wd.load_config_dict(workdir)
  results = wd.load_results(workdir)
  k = num_samples or cfg["export"]["num_samples"]
  export.export_savedmodel(
      model, output, num_samples=k, seed=cfg["seed"] if seed is None else seed,
      metadata={"config": cfg, "dataset": cfg["data"]["name"], "training_results": results,
                "image_shape": images.image_shape(model.input_dim),
                "tfiw_version": tfiw.__version__})
  print(f"Wrote SavedModel to {output} (log_prob uses K={k}); signatures: "
        "log_prob (serving_default), log_prob_k, sample, encode")
  return output


def main(argv):
  del argv
  f = flags.FLAGS
  try:
    export_run(f.workdir, f.output, f.num_samples, f.seed)
  except FileNotFoundError as e:  # no trained model in the workdir
    sys.exit(f"export.savedmodel: error: {e}")


if __name__ == "__main__":
  _define_flags()
  cli.run(main, "export.savedmodel")
