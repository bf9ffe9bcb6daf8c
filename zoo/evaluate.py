"""Evaluate a trained run: K=5000 test log-likelihood, active units, KL, ESS, pictures.

  python -m zoo.evaluate --workdir=runs/quickstart
  python -m zoo.evaluate --workdir=runs/quickstart --num_samples=1000 --max_examples=500
  python -m zoo.evaluate --workdir=runs/quickstart --estimator=ais --max_examples=100 \\
      --ais_chains=16 --ais_steps=1000      # annealed importance sampling (tfiw.ais)

``--max_examples`` scores a fixed random subset (recorded), not the first N rows.
``--estimator=ais`` adds the AIS estimate (HMC, continuous latents only) on the same
examples next to the IWAE one; it costs chains x steps x (leapfrog + 1) model gradients
per example, so a subset is usual on a CPU.
Prints a table, writes DIR/evaluation.json, DIR/samples.png and DIR/reconstructions.png,
and logs the numbers and pictures to TensorBoard (DIR/tensorboard/eval).
"""
import sys

import numpy as np
import tensorflow as tf
from absl import flags

from tfiw import evaluation, images, precision as precision_lib
from zoo import cli, trainer, workdir as wd

_WORKDIR = flags.DEFINE_string("workdir", None, "A zoo.train run directory.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", None, "K (default: the config's eval K).")
_MAX_EXAMPLES = flags.DEFINE_integer(
    "max_examples", 0, "Evaluate on a fixed random subset of N test examples (0 = all); "
    "the subset is recorded in evaluation.json.")
_SEED = flags.DEFINE_integer("seed", None, "Evaluation seed (default: the config's).")
_DATA_DIR = flags.DEFINE_string("data_dir", None, "Local .npz datasets (default: the run's "
                                "recorded data_dir, else $TFIW_DATA_DIR).")
_JIT = flags.DEFINE_bool("jit_compile", None, "XLA for the estimator (default: config).")
_PRECISION = flags.DEFINE_enum(
    "precision", None, ["float32", "bfloat16", "auto"], "Precision of the estimator's "
    "matmuls (tfiw.precision; default: the config's eval.precision); recorded.")
_ESTIMATOR = flags.DEFINE_enum("estimator", "iwae", ["iwae", "ais"],
                               "iwae: the K-sample IWAE estimate; ais: also annealed "
                               "importance sampling on the same examples (tfiw.ais).")
_AIS_CHAINS = flags.DEFINE_integer("ais_chains", 16, "AIS chains per example.")
_AIS_STEPS = flags.DEFINE_integer("ais_steps", 1000, "AIS annealing steps.")
_AIS_LEAPFROG = flags.DEFINE_integer("ais_leapfrog", 10, "Leapfrog steps per HMC move.")
flags.mark_flags_as_required(["workdir"])


def evaluate_run(workdir, num_samples=None, max_examples=0, seed=None, data_dir=None,
                 jit_compile=None, estimator="iwae", ais_chains=16, ais_steps=1000,
                 ais_leapfrog=10, precision=None):
  cfg, model = wd.load_run(workdir)  # (refused while a process trains there)
  test = trainer.load_data(cfg, data_dir).test  # data_dir None: the one the run recorded
  subset = evaluation.subset_indices(test.shape[0], max_examples)
  x = test if subset is None else test[subset]
  k = num_samples or cfg.eval.num_samples
  seed = cfg.seed if seed is None else seed
  jit = cfg.eval.jit_compile if jit_compile is None else jit_compile
  precision = precision_lib.resolve(  # a config from before the field: float32
      precision or cfg.eval.get("precision", trainer.ADDED_FIELDS["eval.precision"]), jit)
  summary = evaluation.summarize(
      model, x, num_samples=k, seed=seed, batch_size=cfg.eval.batch_size,
      chunk_size=cfg.eval.chunk_size,
      jit_compile=jit, precision=precision)
  summary.update(method=cfg.method.name, dataset=cfg.data.name, seed=seed, precision=precision,
                 subset=None if subset is None else {
                     "num_examples": int(len(subset)), "of": int(test.shape[0]),
                     "seed": evaluation.SUBSET_SEED, "indices": [int(i) for i in subset]})

  if estimator == "ais":
    summary["ais"] = ais_summary(model, x, ais_chains, ais_steps, ais_leapfrog, seed,
                                 cfg.eval.jit_compile if jit_compile is None else jit_compile)
  elif estimator != "iwae":
    raise ValueError(f"unknown estimator {estimator!r}; valid: ['iwae', 'ais']")

  samples = evaluation.sample(model, 100, seed=seed, mean=True)
  # Evenly spaced test images: the binarized-MNIST test file is ordered by digit.
  originals = x[np.linspace(0, len(x) - 1, min(50, len(x))).astype(int)]
  recon = model.reconstruct(originals).numpy()
  pictures = {"samples": images.grid(samples),
              "reconstructions": images.side_by_side(originals, recon)}
  for name, picture in pictures.items():
    images.write_png(wd.picture_path(workdir, name), picture)
  writer = tf.summary.create_file_writer(wd.eval_tensorboard_dir(workdir))
  step = int(model.optimizer.iterations.numpy()) if model.optimizer else 0
  with writer.as_default():
    for key in ("log_likelihood", "kl_q_prior", "ess_mean"):
      tf.summary.scalar(f"test/{key}", summary[key], step=step)
    if "ais" in summary:
      tf.summary.scalar("test/ais_log_likelihood", summary["ais"]["log_likelihood"], step=step)
    for name, picture in pictures.items():
      tf.summary.image(name, picture[None, :, :, None], step=step)
  wd.write_json(wd.evaluation_path(workdir), summary, allow_nan=True)
  print(format_table(summary))
  if "ais" in summary:
    a = summary["ais"]
    print(f"AIS log-likelihood ({summary['dataset']}, {a['chains']} chains, {a['steps']} "
          f"steps, {a['num_examples']} examples): {a['log_likelihood']:.2f} ± "
          f"{a['log_likelihood_stderr']:.2f} nats (IWAE K={summary['num_samples']} on the "
          f"same examples: {summary['log_likelihood']:.2f})")
  return summary


def ais_summary(model, x, chains, steps, leapfrog, seed, jit_compile):
  """AIS on the evaluated examples, as a JSON-ready dict (mean over examples)."""
  import time
  from tfiw import ais
  start = time.time()
  r = ais.ais_log_likelihood(model, x, num_chains=chains, num_steps=steps,
                             leapfrog_steps=leapfrog, seed=seed, jit_compile=jit_compile)
  seconds = time.time() - start
  ll = r.log_likelihood
  return {"log_likelihood": float(ll.mean()),
          "log_likelihood_stderr": float(ll.std() / np.sqrt(len(ll))),
          "chains": int(chains), "steps": int(steps), "leapfrog_steps": int(leapfrog),
          "num_examples": int(len(ll)), "acceptance_mean": float(r.acceptance.mean()),
          "chain_stderr_mean": float(np.nanmean(r.chain_stderr)), "seconds": seconds,
          "seconds_per_example": seconds / len(ll)}


def format_table(summary):
  rows = [
      ("method", summary["method"]), ("dataset", summary["dataset"]),
      ("examples", summary["num_examples"]), ("K (importance samples)", summary["num_samples"]),
      ("precision", summary["precision"]),
      ("test log-likelihood (nats)",
       f"{summary['log_likelihood']:.2f} ± {summary['log_likelihood_stderr']:.2f}"),
      ("active units per layer", summary["active_units"]),
      ("KL(q(z|x) || p(z)) (nats)", f"{summary['kl_q_prior']:.2f}"),
      ("effective sample size (mean)", f"{summary['ess_mean']:.1f}"),
      ("seconds (per example)",
       f"{summary['seconds']:.1f} ({summary['seconds_per_example']:.4f})"),
  ]
  width = max(len(r[0]) for r in rows)
  lines = [f"| {'metric'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
  lines += [f"| {k.ljust(width)} | {v} |" for k, v in rows]
  return "\n".join(lines)


def main(argv):
  del argv
  try:
    evaluate_run(_WORKDIR.value, _NUM_SAMPLES.value, _MAX_EXAMPLES.value, _SEED.value,
                 _DATA_DIR.value, _JIT.value, _ESTIMATOR.value, _AIS_CHAINS.value,
                 _AIS_STEPS.value, _AIS_LEAPFROG.value, _PRECISION.value)
  except (FileNotFoundError, ValueError, wd.WorkdirBusy) as e:  # no run, bad data, training
    sys.exit(f"zoo.evaluate: error: {e}")


if __name__ == "__main__":
  cli.run(main, "zoo.evaluate")
