"""Export a trained run as a SavedModel (signatures: log_prob, log_prob_k, sample, encode).

  python -m export.savedmodel --workdir=runs/quickstart --output=exported/quickstart
"""
import json
import os

import keras
from absl import app, flags

import tfiw
from tfiw import export, images


def _define_flags():
  """Flags are defined only when run as a program, so importing ``export_run`` next to
  other absl tools (zoo.evaluate also has --workdir) cannot clash."""
  flags.DEFINE_string("workdir", None, "A finished zoo.train run.")
  flags.DEFINE_string("output", None, "SavedModel directory to write.")
  flags.DEFINE_integer("num_samples", None,
                       "K for the log_prob signature (default: config export K).")
  flags.DEFINE_integer("seed", None, "Seed of log_prob/log_prob_k (default: config seed).")
  flags.mark_flags_as_required(["workdir", "output"])


def export_run(workdir, output, num_samples=None, seed=None):
  model_path = os.path.join(workdir, "model.keras")
  if not os.path.exists(model_path):
    raise FileNotFoundError(f"{model_path} not found: train first with python -m zoo.train "
                            f"--workdir={workdir} (a run writes model.keras when it finishes)")
  with open(os.path.join(workdir, "config.json")) as f:
    cfg = json.load(f)
  results_path = os.path.join(workdir, "results.json")
  results = json.load(open(results_path)) if os.path.exists(results_path) else None
  model = keras.models.load_model(model_path)
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
  export_run(f.workdir, f.output, f.num_samples, f.seed)


if __name__ == "__main__":
  from zoo import trainer
  _define_flags()
  app.run(main, flags_parser=lambda argv: trainer.parse_flags(argv, "export.savedmodel"))
