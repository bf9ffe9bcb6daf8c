"""Rows for VIMCO, NVIL, RWS, MIWAE/PIWAE/CIWAE and DReG in their papers' settings.

None of these papers' numbers is in /work/shared/papers, and we have not checked them
against the papers' PDFs, so every row's paper NLL is "-" (not known here) and the source
names the table a number would come from. The rows still run (same machinery) and show
our curve; a later change that verifies a number fills ``nll`` with its page.

  row                paper table the number would come from
  vimco_sbn3_k5      Mnih & Rezende 2016 (arXiv:1602.06725), Table 2: SBN 200-200-200, K=5
  vimco_sbn3_k50     same, K=50
  nvil_sbn3          Mnih & Gregor 2014 (arXiv:1402.0030), Table 1: SBN 200-200-200
  rws_k5             Bornschein & Bengio 2015 (arXiv:1406.2751), Table 1: RWS on sigmoid
                     belief nets (here the 200-200-200 SBN of the rows above, wake-φ, K=5)
  miwae_8_8 / piwae_8_8 / ciwae_05   Rainforth et al. 2018 (arXiv:1802.04537), sec. 5:
                     M*K = 64 on MNIST, reported as plots in the paper
  dreg_k64           Tucker et al. 2019 (arXiv:1810.04152), Table/Fig. of IWAE-DReG, K=64,
                     dynamic MNIST, Burda's 1-layer net

Training: each method config's defaults (configs/<method>.py), 3,280 epochs with
checkpoints at the ends of the Burda stages (the SBN configs keep their constant rate).

  python -m zoo.reproduce --table=other_methods --rows=vimco_sbn3_k5 --workdir_root=runs/reproduce
"""
from configs.papers import common

TABLE = "other_methods"
_NONE = "no number in /work/shared/papers and none verified here; would come from "
ROWS = {
    "vimco_sbn3_k5": common.Row(
        method="vimco", arg="k=5,layers=3", nll=None,
        source=_NONE + "Mnih & Rezende 2016, Table 2 (SBN 200-200-200, K=5)"),
    "vimco_sbn3_k50": common.Row(
        method="vimco", arg="k=50,layers=3", nll=None,
        source=_NONE + "Mnih & Rezende 2016, Table 2 (SBN 200-200-200, K=50)"),
    "nvil_sbn3": common.Row(
        method="nvil", arg="layers=3", nll=None,
        source=_NONE + "Mnih & Gregor 2014, Table 1 (SBN 200-200-200)"),
    "rws_k5": common.Row(
        method="rws", arg="k=5,latents=bernoulli,layers=3", nll=None,
        source=_NONE + "Bornschein & Bengio 2015, Table 1 (SBN; here the 200-200-200 SBN of "
                       "the VIMCO and NVIL rows, wake-φ, K=5)"),
    "miwae_8_8": common.Row(
        method="miwae", arg="m=8,k=8", nll=None, dataset="mnist",
        source=_NONE + "Rainforth et al. 2018, sec. 5 (plots only)"),
    "piwae_8_8": common.Row(
        method="piwae", arg="m=8,k=8", nll=None, dataset="mnist",
        source=_NONE + "Rainforth et al. 2018, sec. 5 (plots only)"),
    "ciwae_05": common.Row(
        method="ciwae", arg="k=64,beta=0.5", nll=None, dataset="mnist",
        source=_NONE + "Rainforth et al. 2018, sec. 5 (plots only)"),
    "dreg_k64": common.Row(
        method="dreg", arg="k=64", nll=None, dataset="mnist",
        source=_NONE + "Tucker et al. 2019, IWAE-DReG on dynamic MNIST, K=64"),
}


def get_config(arg=None):
  return common.row_config(TABLE, ROWS, arg)
