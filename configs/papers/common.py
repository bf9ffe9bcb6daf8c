"""Shared machinery of the paper-row configs (configs/papers/<table>.py).

A row is a method config (configs/<method>.py with its arguments) plus the paper's
protocol and number. ``row_config`` returns the method's ConfigDict with:

  c.paper.table / row       ids used in docs/reproduction.json
  c.paper.nll               the paper's test NLL (positive nats), None where none is known
  c.paper.stderr            the paper's reported error (None where it reports none)
  c.paper.source            where the number comes from (paper, table, page of shared/papers)
  c.paper.note              protocol details and known deviations
  c.paper.same_as           another row of the table trained identically (IWAE at k=1 is
                            the VAE): that row's run is reported, none is trained
  c.paper.variant_of        another row this one changes in one protocol detail (its
                            ``overrides``), to measure that detail's effect: the report
                            sets the two curves side by side and leaves the variant out
                            of the equal-budget comparison of methods
  c.paper.overrides         the row's changes to its method config, "key=value, ..."
  c.paper.checkpoints       epochs at which zoo.reproduce evaluates the test NLL and
                            exports the SavedModel (the ends of the schedule's stages)
  c.paper.test_binarization "fixed": the dataset's test set as loaded; "per_evaluation":
                            the grayscale test set binarized afresh for every evaluation
                            (Burda et al.'s released code re-binarizes every test minibatch)
  c.train.epochs            the protocol's length

Arguments: ``row=NAME`` (required) and ``runlocal`` (a seconds-long run of the same row:
the method config's runlocal, 2 epochs of 5 steps, checkpoints at epochs 1 and 2).
"""
import dataclasses
import importlib
from typing import Optional, Tuple

import ml_collections

from configs import common as base_common
from tfiw import schedules

# Ends of the Burda schedule's stages: stage i (3^i epochs) ends at epoch (3^(i+1) - 1) / 2.
BURDA_CHECKPOINTS = tuple(schedules.burda_total_epochs(i + 1) for i in range(8))


@dataclasses.dataclass(frozen=True)
class Row:
  method: str                      # configs/<method>.py
  arg: str                         # its get_config argument, e.g. "k=5,layers=2"
  nll: Optional[float]             # paper's test NLL, positive nats (None: not known)
  source: str                      # where the number comes from
  dataset: Optional[str] = None    # override of the method config's c.data.name
  epochs: int = 3280
  checkpoints: Tuple[int, ...] = BURDA_CHECKPOINTS
  stderr: Optional[float] = None
  eval_num_samples: int = 5000
  test_binarization: str = "fixed"
  same_as: Optional[str] = None
  variant_of: Optional[str] = None
  note: str = ""
  overrides: Tuple[Tuple[str, object], ...] = ()   # ("optim.schedule", "constant"), ...


def parse(arg, rows):
  a = base_common.parse_arg(arg, row="", runlocal=False)
  if a.row not in rows:
    raise ValueError(f"unknown row {a.row!r}; valid: {sorted(rows)} (use row=NAME)")
  return a


def row_config(table, rows, arg):
  a = parse(arg, rows)
  r = rows[a.row]
  method_arg = ",".join(filter(None, [r.arg, "runlocal" if a.runlocal else ""]))
  c = importlib.import_module(f"configs.{r.method}").get_config(method_arg)
  # A paper row runs in float32 wherever it runs: its recorded resume points predate the
  # precision fields (read as float32), and "auto" could mean bf16 on another machine,
  # which would both refuse the resume and mix precisions within one row's curve.
  c.train.precision = c.eval.precision = "float32"
  if r.dataset:
    c.data.name = r.dataset
  for key, value in r.overrides:
    node = c
    *path, leaf = key.split(".")
    for p in path:
      node = node[p]
    node[leaf] = value
  checkpoints = [e for e in r.checkpoints if e <= r.epochs]
  if not a.runlocal:
    c.train.epochs = r.epochs
    c.eval.num_samples = r.eval_num_samples
    c.eval.max_examples = 0  # the full test set
  else:
    checkpoints = [1, c.train.epochs]
  c.paper = ml_collections.ConfigDict(dict(
      table=table, row=a.row, nll=r.nll, stderr=r.stderr, source=r.source, note=r.note,
      same_as=r.same_as or "", variant_of=r.variant_of or "",
      overrides=", ".join(f"{k}={v}" for k, v in r.overrides), checkpoints=checkpoints,
      test_binarization=r.test_binarization,
      method_config=f"configs/{r.method}.py:{r.arg}"))
  c.args = a.to_dict()
  return c


def docstring_rows(rows):
  """'row  paper NLL' lines (for the modules' docstrings and --help)."""
  return "\n".join(f"  {name:<16} {'%.2f' % r.nll if r.nll is not None else '  -  '}"
                   for name, r in rows.items())
