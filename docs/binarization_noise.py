"""How much of a dynamic-MNIST test NLL is the test set's binarization (the measurement
behind docs/reproduction.md's note on `mnist_burda`).

Burda et al.'s protocol binarizes the grayscale test images afresh at each evaluation, so a
row's number is for one random binarization. Its reported ± (the standard error over test
images) is mostly the images' own spread, which a paper's number on the same 10,000 images
shares. This script scores the same N test images under two fresh binarizations with a
pretrained row (its SavedModel, the exported K) and reports the per-image standard deviation
that the binarization alone causes, sd(lp_a - lp_b) / sqrt(2), and what it implies for the
mean of the full 10,000-image test set.

  python docs/binarization_noise.py pretrained/burda2016_table1/vae_l1_k1 ../shared/data 1000

Arguments: SavedModel directory, data directory holding mnist.npz, N (default 1000).
Binarization seeds [123, 90001] and [123, 90002] (no checkpoint uses epochs that large).
"""
import json
import math
import sys

import numpy as np
import tensorflow as tf

from tfiw import data

SEEDS = (90001, 90002)
FULL_TEST_SET = 10_000


def score(model, x, batch=1000):
  """log p(x) per row from the SavedModel's log_prob signature (its exported K)."""
  return np.concatenate([model.signatures["log_prob"](x=tf.constant(x[i:i + batch]))["log_prob"]
                         .numpy() for i in range(0, len(x), batch)])


def binarization_spread(model, intensities, seeds=SEEDS):
  """Scores of the rows of ``intensities`` under two binarizations, and the spreads."""
  lp = [score(model, data.binarize(intensities, [data.TEST_BINARIZATION_SEED, s]))
        for s in seeds]
  n = len(intensities)
  per_image_sd = float(np.std(lp[0] - lp[1]) / math.sqrt(2))
  return {
      "num_examples": int(n), "seeds": list(seeds),
      "mean_nll": [float(-np.mean(v)) for v in lp],
      "stderr_over_images": float(np.std(lp[0]) / math.sqrt(n)),
      "per_image_binarization_sd": per_image_sd,
      "binarization_sd_of_full_test_mean": per_image_sd / math.sqrt(FULL_TEST_SET),
      "images_sd_of_full_test_mean": float(np.std(lp[0]) / math.sqrt(FULL_TEST_SET))}


def main(model_dir, data_dir, n=1000):
  splits = data.load("mnist_burda", data_dir=data_dir)
  result = {"model": model_dir, **binarization_spread(tf.saved_model.load(model_dir),
                                                      splits.test_intensities[:n])}
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1000)
