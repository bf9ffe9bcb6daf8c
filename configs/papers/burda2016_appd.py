"""Burda, Grosse & Salakhutdinov (2016), Appendix D: fixed-binarization MNIST, 1 layer.

Protocol: as Table 1 (batch 20, Adam eps 1e-4, Burda schedule, 3,280 epochs, 1 stochastic
layer 784-200-200-50, K=5000 test NLL) on the fixed binarization of Larochelle & Murray
(2011), dataset ``binarized_mnist`` (embedded in tfiw); trained on its 50,000 training
images (the 10,000 validation images are not trained on; the appendix does not say
otherwise), evaluated on its 10,000 test images as they are.

Paper test NLL (nats):
  row              paper
{rows}

Source: arXiv:1509.00519v4, Appendix D (fixed binarization results), numbers as quoted
in the reproduction issue and, the same three, in github.com/nbip/IWAE README.md (commit
17cc55d, "Static binarization ... Should be compared to the results in appendix D",
column "Test-set LLH (original paper)": -88.71 / -87.63 / -87.10); the appendix text is
not in /work/shared/papers and the PDF cannot be reached from here. No error bars.

  python -m zoo.reproduce --table=burda2016_appd --rows=iwae_l1_k5 --workdir_root=runs/reproduce
"""
from configs.papers import common

TABLE = "burda2016_appd"
SOURCE = ("Burda et al. 2016 (arXiv:1509.00519v4), Appendix D, fixed-binarization MNIST "
          "(as quoted in the reproduction issue and in github.com/nbip/IWAE README.md, commit "
          "17cc55d; not checked against the PDF)")
ROWS = {
    f"iwae_l1_k{k}": common.Row(method="iwae", arg=f"k={k},layers=1", nll=nll, source=SOURCE,
                                dataset="binarized_mnist", note="fixed MNIST, 50,000 train")
    for k, nll in ((1, 88.71), (5, 87.63), (50, 87.10))}

__doc__ = __doc__.format(rows=common.docstring_rows(ROWS))


def get_config(arg=None):
  return common.row_config(TABLE, ROWS, arg)
