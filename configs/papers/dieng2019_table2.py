"""Dieng & Paisley (2019), "Reweighted Expectation Maximization", Table 2 (+ Figure 1).

Protocol (paper sec. 5.2, /work/shared/papers/002): one stochastic layer of 20 units,
encoder and decoder 2x200 tanh, batch 20, Adam from 1e-3 with Burda et al.'s schedule,
K=1000 particles in training and testing, 200 epochs (the first stages of Burda's
schedule: checkpoints at epochs 1, 4, 13, 40, 121, 200). Test NLL with K=1000, the
paper's test K (K=5000 would be tighter by a fraction of a nat), on the full test set.
Fixed MNIST = ``binarized_mnist``; "stochastic" MNIST = ``mnist_burda`` (the paper points
to yburda/iwae's datasets; it says 60,000 training images, Burda's code trains on 59,600);
Omniglot = ``omniglot`` (tfiw's 28x28 stand-in for Burda's chardata.mat: see
shared/data/README.md). The VAE and IWAE baselines of Figure 1 are shown only as bars:
the paper prints no number for them (paper NLL "-").

Paper test NLL (Table 2, nats):
  row              paper
{rows}

  python -m zoo.reproduce --table=dieng2019_table2 --rows=rem_v1,rem_v2,iwae,vae \\
      --workdir_root=runs/reproduce
"""
from configs.papers import common

TABLE = "dieng2019_table2"
SOURCE = "Dieng & Paisley 2019, Table 2; /work/shared/papers/002"
FIG1 = ("Dieng & Paisley 2019, Figure 1 (bars only, no number printed); "
        "/work/shared/papers/002")
REM_CHECKPOINTS = (1, 4, 13, 40, 121, 200)
_REM = dict(epochs=200, checkpoints=REM_CHECKPOINTS, eval_num_samples=1000)
_Z20 = (("model.latent_dims", [20]),)


def _rem(version, data, nll, dataset=None, binarization="fixed"):
  return common.Row(method="rem", arg=f"version={version},data={data}", nll=nll, source=SOURCE,
                    dataset=dataset, test_binarization=binarization,
                    note=f"REM v{version}, z=20, K=1000", **_REM)


ROWS = {
    "rem_v1": _rem(1, "binarized_mnist", 87.91),
    "rem_v2": _rem(2, "binarized_mnist", 87.99),
    "iwae": common.Row(method="iwae", arg="k=1000", nll=None, source=FIG1,
                       dataset="binarized_mnist", overrides=_Z20,
                       note="IWAE baseline in REM's architecture, K=1000", **_REM),
    "vae": common.Row(method="vae", arg="k=1", nll=None, source=FIG1,
                      dataset="binarized_mnist", overrides=_Z20,
                      note="VAE baseline in REM's architecture, k=1 (the paper does not "
                           "give the VAE's k)", **_REM),
    "rem_v1_dynamic": _rem(1, "mnist", 88.95, "mnist_burda", "per_evaluation"),
    "rem_v2_dynamic": _rem(2, "mnist", 88.92, "mnist_burda", "per_evaluation"),
    "rem_v1_omniglot": _rem(1, "omniglot", 113.94, "omniglot"),
    "rem_v2_omniglot": _rem(2, "omniglot", 114.73, "omniglot"),
}

__doc__ = __doc__.format(rows=common.docstring_rows(ROWS))


def get_config(arg=None):
  return common.row_config(TABLE, ROWS, arg)
