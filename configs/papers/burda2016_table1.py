"""Burda, Grosse & Salakhutdinov (2016), "Importance Weighted Autoencoders", Table 1 (MNIST).

Protocol (paper sec. 5 and their released code, github.com/yburda/iwae ``datasets.py``,
``iwae.py``): dynamically binarized MNIST trained on the first 59,600 of the 60,000 training
images (the last 400 validate), every minibatch binarized afresh, the test set too (here:
a fresh binarization of the 10,000 grayscale test images at every evaluation); output bias =
logit of the training mean clipped to [0.001, 0.999]; batch 20; Adam(lr 1e-3, beta1 0.9,
beta2 0.999, eps 1e-4) with lr 1e-3 * 10^(-i/7) for 3^i epochs, i = 0..7 (3,280 epochs); tanh
networks (1 layer: 784-200-200-50; 2 layers: 784-200-200-100-100-100-50); test NLL with the
K=5000 IWAE estimate on the full test set. ``data_dir`` must hold ``mnist.npz`` (dataset
``mnist_burda``), or TFDS ``mnist`` must be prepared.

Paper test NLL (Table 1, nats; IWAE at k=1 is the VAE, one number for both):
  row              paper
{rows}

Source of the numbers: Table 1 of arXiv:1509.00519 (ICLR 2016), also in
configs/iwae.py and configs/vae.py; the paper's summary is /work/shared/papers/000.
The paper reports no error bars (a row counts as reproduced within 0.3 nats).

  python -m zoo.reproduce --table=burda2016_table1 --rows=iwae_l1_k5 \\
      --data_dir=../shared/data --workdir_root=runs/reproduce
  python -m zoo.train --config=configs/papers/burda2016_table1.py:row=iwae_l1_k5,runlocal \\
      --data_dir=../shared/data --workdir=/tmp/burda_row        # seconds
"""
import dataclasses

from configs.papers import common

TABLE = "burda2016_table1"
PAPER_NLL = {  # (method, layers, k) -> Table 1
    ("vae", 1, 1): 86.76, ("vae", 1, 5): 86.47, ("vae", 1, 50): 86.35,
    ("iwae", 1, 1): 86.76, ("iwae", 1, 5): 85.54, ("iwae", 1, 50): 84.78,
    ("vae", 2, 1): 85.33, ("vae", 2, 5): 85.01, ("vae", 2, 50): 84.78,
    ("iwae", 2, 1): 85.33, ("iwae", 2, 5): 83.89, ("iwae", 2, 50): 82.90,
}
SOURCE = "Burda et al. 2016 (arXiv:1509.00519), Table 1, MNIST"
NOTE = ("dynamic MNIST as in yburda/iwae: first 59,600 training images, test set "
        "re-binarized at every evaluation; Burda schedule, 3,280 epochs, batch 20")

ROWS = {
    f"{m}_l{l}_k{k}": common.Row(
        method=m, arg=f"k={k},layers={l}", nll=nll, source=SOURCE, dataset="mnist_burda",
        test_binarization="per_evaluation", note=NOTE,
        same_as=f"vae_l{l}_k1" if (m, k) == ("iwae", 1) else None)
    for (m, l, k), nll in sorted(PAPER_NLL.items(), key=lambda kv: (kv[0][1], kv[0][0] != "vae",
                                                                      kv[0][2]))}

def _variant(base, note, overrides):
  """Row ``base`` changed in the ``overrides``' details; the report sets the two side by side."""
  return dataclasses.replace(ROWS[base], note=f"{NOTE}; {note}", overrides=overrides,
                             variant_of=base)


def _seed_variant(base, seed):
  """Row ``base`` from another seed: the yardstick for the other variants' differences."""
  return _variant(base, f"seed {seed}", (("seed", seed),))


# A deviation measured, not guessed: the same row with Burda et al.'s link for the Gaussian
# scales (exp of the raw output, yburda/iwae ``iwae.py``) instead of tfiw's softplus + floor.
# Its curve against iwae_l1_k5's, at the same checkpoints on the same test binarizations,
# is the effect of the link.
ROWS["iwae_l1_k5_exp_scale"] = _variant(
    "iwae_l1_k5", "Gaussian scales exp(raw) as in yburda/iwae (the other rows: softplus + floor)",
    (("method.latents", "gaussian_exp"),))
# The yardstick for such differences: the same row from another seed (initial weights, data
# order, binarizations and samples all change; the test binarizations do not).
ROWS["iwae_l1_k5_seed1"] = _seed_variant("iwae_l1_k5", 1)

# vae_l1_k1 finished 0.37 nats better than the paper; two variants measure candidate
# causes at the full protocol: the Adam of their released code (yburda/iwae optimizers.py:
# beta1 0.99, v from ones, one-step-late moments, minibatch-sum gradient), which the
# paper's text (beta1 0.9) does not describe, and another seed as the yardstick.
YBURDA_ADAM = (("optim.adam", "yburda_iwae"),)
YBURDA_ADAM_NOTE = "the Adam of yburda/iwae optimizers.py (tfiw.optimizers.YburdaAdam)"
ROWS["vae_l1_k1_yburda_adam"] = _variant("vae_l1_k1", YBURDA_ADAM_NOTE, YBURDA_ADAM)
ROWS["vae_l1_k1_seed1"] = _seed_variant("vae_l1_k1", 1)
# A second yardstick seed: seed 1 moved the row by as much as the Adam did at epoch 1,093
# (+0.19 against +0.21), so one seed-to-seed difference is too few to size the spread.
ROWS["vae_l1_k1_seed2"] = _seed_variant("vae_l1_k1", 2)
# All four of the released code's known differences at once (its Adam; its exp link for
# the Gaussian scales; its seed-123 initialisation of every layer, tfiw.initializers; its
# unshuffled minibatches, train.py): does tfiw with the released code's choices land on
# the paper's numbers?
RELEASED_CODE = YBURDA_ADAM + (("method.latents", "gaussian_exp"),
                               ("model.init", "yburda_iwae"), ("data.shuffle", False))
RELEASED_CODE_NOTE = ("the released code's Adam, exp link, seed-123 initialisation and "
                      "unshuffled minibatches (yburda/iwae)")
ROWS["vae_l1_k1_released_code"] = _variant("vae_l1_k1", RELEASED_CODE_NOTE, RELEASED_CODE)
# iwae_l1_k5 finished 0.33 better than the paper, the same offset: the same four choices
# on it (its seed spread is iwae_l1_k5_seed1's, above), and its Adam alone.
ROWS["iwae_l1_k5_released_code"] = _variant("iwae_l1_k5", RELEASED_CODE_NOTE, RELEASED_CODE)
ROWS["iwae_l1_k5_yburda_adam"] = _variant("iwae_l1_k5", YBURDA_ADAM_NOTE, YBURDA_ADAM)

__doc__ = __doc__.format(rows=common.docstring_rows(ROWS))


def get_config(arg=None):
  return common.row_config(TABLE, ROWS, arg)
