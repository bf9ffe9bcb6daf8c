"""IWAE with random network weights: the table of the poster in /work/shared/papers/003.

Setting stated by the poster: one hidden layer of 400 units, 40 latent variables, k=25
importance samples, IWAE against IWAE-R (random weights in both networks) and IWAE-Rrec
(random weights in the recognition network only), MNIST and Omniglot, average test
log-likelihood with its error. Not stated (ours, as configs/iwae_r.py): the binarization
(we use tfiw's dynamic ``mnist`` and ``omniglot``), batch 20, Adam eps 1e-4, the Burda
schedule for 3,280 epochs, tanh, K=5000 test estimate on the full test set.

Paper test NLL (nats, ± the poster's error):
  row              paper
{rows}

Source: /work/shared/papers/003, "6 - Experimental Results" (authors and venue are not in
the text we have).

  python -m zoo.reproduce --table=iwae_random_weights --rows=mnist_iwae_r \\
      --data_dir=../shared/data --workdir_root=runs/reproduce
"""
from configs.papers import common

TABLE = "iwae_random_weights"
SOURCE = "/work/shared/papers/003 (poster), table 'Average test log-likelihood'"
NUMBERS = {  # (dataset, variant) -> (NLL, error)
    ("mnist", "iwae"): (95.182, 0.022), ("mnist", "iwae_r"): (94.346, 0.025),
    ("mnist", "iwae_rrec"): (94.709, 0.025),
    ("omniglot", "iwae"): (118.771, 0.035), ("omniglot", "iwae_r"): (118.540, 0.049),
    ("omniglot", "iwae_rrec"): (118.647, 0.031),
}
ROWS = {
    f"{d}_{v}": common.Row(method="iwae_r", arg=f"variant={v},dataset={d}", nll=nll,
                           stderr=err, source=SOURCE, dataset=d,
                           note="400 units, z=40, k=25; training length not stated")
    for (d, v), (nll, err) in NUMBERS.items()}

__doc__ = __doc__.format(rows=common.docstring_rows(ROWS))


def get_config(arg=None):
  return common.row_config(TABLE, ROWS, arg)
