"""AIS against the K=5000 IWAE estimate on trained models: the gap against the number of
annealing steps, and the cost per example (docs/ais.md).

  python docs/ais_eval.py --out=docs/ais.json --examples=50 --chains=8 --steps=100,300,1000 \
      quickstart=runs/quickstart burda_vae_l1_k50=/work/longruns/runs/burda2016_table1/vae_l1_k50

Each source is NAME=DIR: a ``zoo.train`` workdir (model.keras) or a ``zoo.reproduce`` row
workdir (config.json + backup/, the weights of its last finished epoch). The same fixed
random subset of test images (``tfiw.evaluation.subset_indices``) is scored by both
estimators; AIS starts from q(z|x) with 10 leapfrog steps per HMC move. Writes the JSON
and a plot next to it (``ais_gap.png``), and for a row workdir its ``ais.json`` (largest T),
which ``zoo.reproduce``'s report shows beside the row's IWAE number.
"""
import argparse
import json
import os
import time

import numpy as np


def load_source(path, data_dir=None):
  """(model, test images, description) from a zoo.train or zoo.reproduce workdir."""
  from zoo import trainer, workdir as wd
  from tfiw import data as tfiw_data
  if os.path.exists(wd.model_path(path)):
    cfg, model = wd.load_run(path)
    return (model, trainer.load_data(cfg, data_dir).test, f"{cfg.method.name}, zoo.train run",
            None)
  cfg = wd.load_config(path)
  splits = tfiw_data.load(cfg.data.name, data_dir=data_dir or cfg.data.get("data_dir") or None)
  model = trainer.build_model(cfg, splits.train.shape[1], splits.likelihood)
  model.build()
  model.load_weights(wd.backup_weights_path(path))
  epoch = wd.backup_epoch(wd.backup_dir(path))
  test = splits.test
  if cfg.get("paper") and cfg.paper.get("test_binarization") == "per_evaluation":
    test = tfiw_data.binarize(splits.test_intensities, [tfiw_data.TEST_BINARIZATION_SEED, epoch])
  return model, test, f"{cfg.method.name}, reproduction row after {epoch} epochs", epoch


def measure(model, x, steps_list, chains, leapfrog, seed=0):
  from tfiw import ais, evaluation
  start = time.time()
  iwae = evaluation.log_likelihood(model, x, num_samples=5000, seed=seed, verbose=0)
  out = {"iwae5000": float(iwae.mean()), "iwae5000_seconds_per_example":
         (time.time() - start) / len(x), "ais": []}
  for steps in steps_list:
    start = time.time()
    r = ais.ais_log_likelihood(model, x, num_chains=chains, num_steps=steps,
                               leapfrog_steps=leapfrog, seed=seed, verbose=0)
    gap = r.log_likelihood - iwae
    out["ais"].append({
        "steps": steps, "log_likelihood": float(r.log_likelihood.mean()),
        "gap_over_iwae": float(gap.mean()),
        "gap_stderr": float(gap.std(ddof=1) / np.sqrt(len(gap))),
        "acceptance": float(r.acceptance.mean()),
        "seconds_per_example": (time.time() - start) / len(x)})
    print(f"  T={steps}: AIS {r.log_likelihood.mean():.2f}, IWAE-5000 {iwae.mean():.2f}, "
          f"gap {gap.mean():+.2f} ± {out['ais'][-1]['gap_stderr']:.2f}, "
          f"{out['ais'][-1]['seconds_per_example']:.2f} s/example", flush=True)
  return out


def plot(results, path):
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 4))
  for name, r in results["models"].items():
    steps = [a["steps"] for a in r["ais"]]
    ax.errorbar(steps, [a["gap_over_iwae"] for a in r["ais"]],
                yerr=[2 * a["gap_stderr"] for a in r["ais"]], marker="o", label=name)
  ax.axhline(0.0, color="k", lw=0.5)
  ax.set_xscale("log")
  ax.set_xlabel("AIS annealing steps T")
  ax.set_ylabel("AIS − IWAE(K=5000), nats per example")
  ax.set_title(f"{results['chains']} chains, {results['leapfrog']} leapfrog steps, "
               f"{results['examples']} test images")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("sources", nargs="+", help="NAME=WORKDIR")
  p.add_argument("--out", default="docs/ais.json")
  p.add_argument("--examples", type=int, default=50)
  p.add_argument("--chains", type=int, default=8)
  p.add_argument("--steps", default="100,300,1000")
  p.add_argument("--leapfrog", type=int, default=10)
  p.add_argument("--data_dir", default=None)
  a = p.parse_args()
  from tfiw import evaluation
  steps = [int(s) for s in a.steps.split(",")]
  results = {"examples": a.examples, "chains": a.chains, "leapfrog": a.leapfrog,
             "subset_seed": evaluation.SUBSET_SEED, "models": {}}
  for source in a.sources:
    name, _, path = source.partition("=")
    model, test, what, epoch = load_source(path, a.data_dir)
    x = test[evaluation.subset_indices(test.shape[0], a.examples)]
    print(f"{name} ({what}): {len(x)} test images", flush=True)
    results["models"][name] = {"source": path, "what": what, **measure(
        model, x, steps, a.chains, a.leapfrog)}
    with open(a.out, "w") as f:
      json.dump(results, f, indent=2)
    if epoch is not None:  # a reproduction row: its report shows AIS beside IWAE-5000
      r, last = results["models"][name], results["models"][name]["ais"][-1]
      from zoo import workdir as wd
      wd.write_json(wd.ais_path(path), {
          "epoch": epoch, "examples": len(x), "chains": a.chains, "steps": last["steps"],
          "log_likelihood": last["log_likelihood"], "iwae5000": r["iwae5000"]})
  plot(results, os.path.join(os.path.dirname(a.out) or ".", "ais_gap.png"))


if __name__ == "__main__":
  main()
