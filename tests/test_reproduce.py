"""zoo.reproduce: paper-row configs, a runlocal row end to end with resume, report schema."""
import glob
import importlib
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from configs import papers
from configs.papers import burda2016_table1, common as paper_common
from tfiw import data as tfiw_data, schedules
from zoo import reproduce, trainer, workdir as wd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _all_rows():
  for table in papers.TABLES:
    module = importlib.import_module(f"configs.papers.{table}")
    for row in module.ROWS:
      yield table, row, module


def test_every_row_builds_with_a_loadable_dataset_and_a_source():
  for table, row, module in _all_rows():
    c = module.get_config(f"row={row}")
    assert c.paper.table == table and c.paper.row == row
    assert c.data.name in tfiw_data.DATASETS, (table, row)
    assert c.paper.source and c.paper.checkpoints[-1] == c.train.epochs, (table, row)
    assert c.eval.max_examples == 0  # the full test set
    if c.paper.same_as:
      assert c.paper.same_as in module.ROWS
    small = module.get_config(f"row={row},runlocal")
    assert list(small.paper.checkpoints) == [1, small.train.epochs]
  with pytest.raises(ValueError, match="unknown row"):
    burda2016_table1.get_config("row=iwae_l3_k5")


def test_burda_rows_follow_the_papers_protocol():
  steps = 2980
  lr = schedules.BurdaSchedule(steps)
  for row in burda2016_table1.ROWS:
    c = burda2016_table1.get_config(f"row={row}")
    method, layers, k = row.split("_")[:3]   # iwae_l1_k5[_exp_scale]
    assert c.method.name == method and c.method.num_samples == int(k[1:])
    assert len(c.model.latent_dims) == int(layers[1:])
    assert (c.data.name, c.data.batch_size, c.train.epochs) == ("mnist_burda", 20, 3280)
    assert (c.optim.learning_rate, c.optim.adam_epsilon) == (1e-3, 1e-4)
    assert c.eval.num_samples == 5000 and c.paper.test_binarization == "per_evaluation"
    assert c.method.get("latents", "gaussian") == (
        "gaussian_exp" if row.endswith(("_exp_scale", "_released_code")) else "gaussian")
    released = row.endswith("_released_code")
    assert (c.optim.get("adam", "keras") == "yburda_iwae") == (released or
                                                                row.endswith("_yburda_adam"))
    assert (c.model.get("init", "keras"), c.data.get("shuffle", True)) == (
        ("yburda_iwae", False) if released else ("keras", True))
    assert c.seed == (int(row.rsplit("_seed", 1)[1]) if "_seed" in row else 0)
  # Checkpoints = the last epoch of every stage: the rate drops right after each of them.
  checkpoints = list(paper_common.BURDA_CHECKPOINTS)
  assert checkpoints[-1] == 3280 and len(checkpoints) == 8
  for e in checkpoints[:-1]:
    assert float(lr((e - 1) * steps)) == pytest.approx(float(lr(e * steps - 1)))
    assert float(lr(e * steps)) == pytest.approx(float(lr((e - 1) * steps)) * 10**(-1 / 7))


def test_status_counts_only_full_protocol_within_tolerance():
  assert reproduce.status(85.54, None, 85.70, 3280, 3280) == "reproduced"
  assert reproduce.status(85.54, None, 85.90, 3280, 3280).startswith("missed by 0.36")
  assert reproduce.status(85.54, None, 85.10, 3280, 3280).startswith("better than paper")
  assert reproduce.status(85.54, None, 85.54, 121, 3280) == "partial (epoch 121 of 3280)"
  assert reproduce.status(95.18, 0.5, 95.60, 10, 10) == "reproduced"  # paper's error > 0.3
  assert reproduce.status(None, None, 90.0, 10, 10) == "done (no paper number)"
  assert reproduce.status(85.54, None, None, 0, 3280) == "not run"


def test_equal_epoch_comparison_uses_the_last_epoch_every_row_reached(tmp_path):
  def _entry(row, dataset, nlls, same_as=None, status="partial", variant_of=""):
    curve = {"checkpoints": [{"epoch": ep, "test_nll": v, "test_nll_stderr": 0.2}
                             for ep, v in nlls.items()]} if nlls else None
    return {"json": {"row": row, "dataset": dataset}, "curve": curve, "same_as": same_as,
            "status": status, "variant_of": variant_of, "dir": str(tmp_path / row)}
  entries = [_entry("rem", "m", {1: 108.0, 4: 98.7}), _entry("iwae", "m", {1: 112.0}),
             _entry("vae", "m", {1: 116.0, 4: 90.0, 13: 85.0}),
             _entry("alias", "m", {1: 1.0}, same_as="vae"), _entry("none", "m", None),
             _entry("smoke", "m", {1: 0.5}, status="runlocal smoke run"),
             _entry("alone", "other", {1: 100.0})]
  # iwae has only epoch 1, so all compare there (not at the rows' own last epochs), best
  # first; aliases, unrun and smoke rows, and a dataset with one run row are left out.
  assert reproduce.equal_epoch_comparison(entries) == [
      ("m", 1, [("rem", 108.0, 0.2), ("iwae", 112.0, 0.2), ("vae", 116.0, 0.2)])]
  assert reproduce.equal_epoch_comparison(entries[:1] + entries[2:3]) == [
      ("m", 4, [("vae", 90.0, 0.2), ("rem", 98.7, 0.2)])]
  # A variant row (one protocol detail changed) is not a method to rank: it is compared
  # with its base row at every checkpoint both reached, in epoch order.
  variant = _entry("rem_exp", "m", {4: 97.0, 1: 107.5, 40: 90.0}, variant_of="rem")
  assert reproduce.equal_epoch_comparison(entries + [variant]) == \
      reproduce.equal_epoch_comparison(entries)
  assert reproduce.variant_comparison(entries + [variant]) == [
      ("rem_exp", "rem", [(1, 107.5, 108.0, None), (4, 97.0, 98.7, None)])]
  assert reproduce.variant_comparison(entries) == []
  # Where both rows kept per-image values of a checkpoint, the difference's standard error
  # is the paired one: here a shared per-image spread of 20 nats cancels, leaving 0.1.
  rng = np.random.default_rng(0)
  image, noise = rng.normal(-100, 20, 400), rng.normal(0, 2, 400)
  for row, lp in (("rem", image), ("rem_exp", image + 1.7 + noise)):
    wd.write_npy(wd.test_log_prob_path(str(tmp_path / row), 4), lp.astype(np.float32))
  (_, _, pairs), = reproduce.variant_comparison(entries + [variant])
  assert pairs[0][3] is None
  assert pairs[1][3] == pytest.approx(np.std(noise) / np.sqrt(400), rel=1e-4)


def _seed_entry(row, nlls, variant_of="", overrides="", status="partial", paper=None, protocol=40):
  """A report entry as the seed statistics read it: the row's checkpoints (None: not run)."""
  curve = {"checkpoints": [{"epoch": ep, "test_nll": v} for ep, v in (nlls or {}).items()]}
  return {"json": {"row": row, "paper_nll": paper, "protocol_epochs": protocol},
          "curve": curve if nlls else None, "variant_of": variant_of, "overrides": overrides,
          "status": status}


def test_seed_spread_is_the_sample_sd_over_the_rows_that_change_only_the_seed():
  entries = [_seed_entry("vae", {1: 100.0, 4: 90.0}),
             _seed_entry("vae_seed1", {4: 91.0, 1: 101.0, 13: 80.0}, "vae", "seed=1"),
             _seed_entry("vae_seed2", {1: 102.0}, "vae", "seed=2"),
             # not seeds: another detail changed (alone or with the seed), a smoke run,
             # a seed variant whose base has not run
             _seed_entry("vae_adam", {1: 50.0, 4: 50.0}, "vae", "optim.adam=yburda_iwae"),
             _seed_entry("vae_adam_seed1", {1: 50.0}, "vae", "optim.adam=yburda_iwae, seed=1"),
             _seed_entry("vae_smoke", {1: 0.0}, "vae", "seed=3", status=reproduce.SMOKE_STATUS),
             _seed_entry("iwae", None), _seed_entry("iwae_seed1", {1: 1.0}, "iwae", "seed=1")]
  # Epoch 13 is the seed variant's alone; n - 1 in the sd (three seeds 1 apart: sd 1).
  assert reproduce.seed_spread(entries) == [("vae", [
      (1, [("vae", 100.0), ("vae_seed1", 101.0), ("vae_seed2", 102.0)], pytest.approx(1.0)),
      (4, [("vae", 90.0), ("vae_seed1", 91.0)], pytest.approx(np.sqrt(0.5)))])]
  assert reproduce.seed_spread(entries[:1] + entries[3:]) == []


def test_student_t_quantile_matches_the_printed_table():
  # Two-sided 95% and one-sided 90% points from any t table (e.g. NIST's).
  for p, df, t in ((0.975, 1, 12.706), (0.975, 2, 4.303), (0.975, 3, 3.182),
                   (0.975, 10, 2.228), (0.975, 100, 1.984), (0.9, 3, 1.638)):
    assert reproduce.student_t_quantile(p, df) == pytest.approx(t, abs=1e-3)


def test_variant_against_seeds_is_the_difference_from_the_seed_mean_with_its_t_interval():
  entries = [_seed_entry("vae", {1: 100.0, 4: 90.0}),
             _seed_entry("vae_seed1", {1: 101.0, 4: 91.0}, "vae", "seed=1"),
             _seed_entry("vae_seed2", {1: 102.0}, "vae", "seed=2"),
             _seed_entry("vae_adam", {1: 105.0, 4: 90.0, 13: 80.0}, "vae",
                         "optim.adam=yburda_iwae"),
             _seed_entry("vae_smoke", {1: 0.0}, "vae", "optim.adam=yburda_iwae",
                         status=reproduce.SMOKE_STATUS),
             _seed_entry("iwae_adam", {1: 0.0}, "iwae", "optim.adam=yburda_iwae")]
  # Epoch 1: three seeds 100, 101, 102 (mean 101, sd 1), t(0.975, 2) = 4.303; epoch 4: two
  # seeds 90, 91 (mean 90.5, sd 1/sqrt 2), t(0.975, 1) = 12.706; epoch 13: no seed reached it.
  assert reproduce.variant_against_seeds(entries) == [("vae_adam", "vae", [
      (1, 105.0, 101.0, 3, pytest.approx(4.3027 * 1.0 * np.sqrt(4 / 3), rel=1e-4)),
      (4, 90.0, 90.5, 2, pytest.approx(12.7062 * np.sqrt(0.5) * np.sqrt(1.5), rel=1e-4))])]


def test_paper_against_seeds_takes_the_paper_as_one_more_seed_at_the_protocols_end():
  entries = [_seed_entry("vae", {4: 90.0, 40: 86.0}, paper=87.0),
             _seed_entry("vae_seed1", {4: 91.0, 40: 86.5}, "vae", "seed=1", paper=87.0),
             _seed_entry("vae_seed2", {4: 92.0, 40: 87.0}, "vae", "seed=2", paper=87.0),
             _seed_entry("vae_adam", {40: 80.0}, "vae", "optim.adam=yburda_iwae", paper=87.0),
             # seeds that have not finished their protocol, and a row without a paper number
             _seed_entry("iwae", {4: 90.0}, paper=85.0),
             _seed_entry("iwae_seed1", {4: 91.0}, "iwae", "seed=1"),
             _seed_entry("ciwae", {40: 90.0}),
             _seed_entry("ciwae_seed1", {40: 91.0}, "ciwae", "seed=1")]
  # Epoch 40: seeds 86, 86.5, 87 (mean 86.5, sd 0.5), t(0.975, 2) = 4.303, half-width
  # 2.48: the paper's 87 is inside; epoch 4 is not the protocol's end, and the Adam
  # variant is no seed.
  half = 4.3027 * 0.5 * np.sqrt(4 / 3)
  assert reproduce.paper_against_seeds(entries) == [
      ("vae", 40, 87.0, 86.5, 3, pytest.approx(half, rel=1e-4), True)]
  # A paper number just beyond the interval, on either side, is outside it.
  for paper in (86.5 + half + 0.01, 86.5 - half - 0.01):
    for e in entries[:4]:
      e["json"]["paper_nll"] = paper
    assert reproduce.paper_against_seeds(entries)[0][-1] is False


def test_committed_resume_points_resume_with_the_current_row_configs():
  """Every row mirrored in reproduction/state resumes under today's config: no field that
  changes training differs (paper metadata may), so a session never loses a long run."""
  roots = sorted(glob.glob(os.path.join(REPO, "reproduction", "state", "*", "*")))
  assert roots, "reproduction/state holds the long runs' resume points"
  for root in roots:
    table, row = root.split(os.sep)[-2:]
    old = trainer.with_added_fields(json.load(open(os.path.join(root, "config.json"))))
    new = json.loads(reproduce.row_config(table, row).to_json_best_effort(sort_keys=True))
    assert trainer.trajectory_differences(old, new) == [], (table, row)


@pytest.fixture
def rows_without_xla(monkeypatch):
  """Row configs without XLA: compiling the fused training loop and the estimator would
  be most of a runlocal row's time; the machinery under test is the same."""
  def no_xla(*args, _orig=reproduce.row_config, **kwargs):
    c = _orig(*args, **kwargs)
    c.train.jit_compile = c.eval.jit_compile = False
    return c
  monkeypatch.setattr(reproduce, "row_config", no_xla)


def test_remaining_hours_is_recent_pace_times_epochs_left_plus_the_evaluations_ahead():
  # Epochs 1..30: the first 10 slow (100 s), the last 20 at 10 s but for three 130 s
  # epochs while another job had the cores; epoch 31 is in the curve but past the backup
  # (a kill between the two writes), and the list is out of order, as a re-trained epoch
  # leaves it.
  seconds = lambda e: 100.0 if e <= 10 else 130.0 if e in (25, 26, 27) else 10.0
  epochs = [{"epoch": e, "seconds": seconds(e)} for e in range(1, 31)]
  epochs = epochs[15:] + epochs[:15] + [{"epoch": 31, "seconds": 5000.0}]
  curve = {"epochs": epochs, "checkpoints": [{"epoch": 4, "eval_seconds": 500.0},
                                             {"epoch": 13, "eval_seconds": 300.0}]}
  checkpoints = [1, 4, 13, 30, 40, 121]
  # From 30 to 121: 91 epochs at the median 10 s (the mean of the last 20 is 28 s), and
  # evaluations at 40 and 121 (not at 30, done) at the last evaluation's 300 s.
  assert reproduce.remaining_hours(curve, 30, 121, checkpoints) == pytest.approx(
      (91 * 10 + 2 * 300) / 3600)
  # A target short of a checkpoint does not pay for it; one on a checkpoint does.
  assert reproduce.remaining_hours(curve, 30, 39, checkpoints) == pytest.approx(90 / 3600)
  assert reproduce.remaining_hours(curve, 30, 40, checkpoints) == pytest.approx(400 / 3600)
  # The window: at epoch 12 the last 20 epochs are 10 at 100 s and 2 at 10 s.
  assert reproduce.remaining_hours(curve, 12, 13, checkpoints) == pytest.approx(
      (100 + 300) / 3600)
  # A window of 5 at epoch 28 (epochs 24-28: 10, 130, 130, 130, 10 s) takes the spike.
  assert reproduce.remaining_hours(curve, 28, 29, checkpoints, window=5) == pytest.approx(
      130 / 3600)
  assert reproduce.remaining_hours(curve, 30, 30, checkpoints) == 0.0
  assert reproduce.remaining_hours({"epochs": [], "checkpoints": []}, 0, 10, checkpoints) is None
  # No evaluation timed yet: training alone.
  assert reproduce.remaining_hours({"epochs": epochs}, 30, 40, checkpoints) == pytest.approx(
      100 / 3600)


def test_runlocal_row_end_to_end_with_resume_export_and_report(tmp_path, rows_without_xla):
  roots = dict(workdir_root=str(tmp_path / "runs"), pretrained_root=str(tmp_path / "pre"),
               docs_dir=str(tmp_path / "docs"), runlocal=True)
  logs = []
  table, row = "burda2016_appd", "iwae_l1_k5"
  reproduce.run_rows(table, [row], stop_epoch=1, log=logs.append, **roots)
  assert any("] epoch 1 of 2: bound" in m for m in logs), logs  # progress against the protocol
  workdir = os.path.join(roots["workdir_root"], table, row)
  pretrained = os.path.join(roots["pretrained_root"], table, row)
  info = lambda: json.load(open(os.path.join(pretrained, "assets", "config.json")))
  assert reproduce.backup_epoch(workdir) == 1 and info()["checkpoint"]["epoch"] == 1

  # A row that another process trains is refused before anything is written to it, and
  # the refused call frees the rows it had opened (the exception keeps its frame alive).
  other = os.path.join(roots["workdir_root"], table, "iwae_l1_k50")
  with wd.exclusive(other):
    with pytest.raises(wd.WorkdirBusy) as busy:
      reproduce.run_rows(table, [row, "iwae_l1_k50"], log=logs.append, **roots)
  assert f"{other} is in use by another process (pid {os.getpid()}," in str(busy.value)
  assert os.listdir(other) == [wd.LOCK_FILE]
  with wd.exclusive(workdir):
    pass

  # Second call: resumes at epoch 1 (not 0), evaluates and re-exports at checkpoint 2,
  # here after a kill between the two renames of a backup's save (zoo.workdir.replace_backup).
  backup = wd.backup_dir(workdir)
  os.rename(backup, backup + ".old")
  os.makedirs(backup + ".new")
  logs.clear()
  reproduce.run_rows(table, [row], log=logs.append, **roots)
  assert any("backup recovered" in m for m in logs), logs
  assert any("epochs 1 -> 2" in m for m in logs), logs
  curve = json.load(open(os.path.join(workdir, "curve.json")))
  assert [e["epoch"] for e in curve["epochs"]] == [1, 2]
  assert [c["epoch"] for c in curve["checkpoints"]] == [1, 2]
  assert info()["checkpoint"]["epoch"] == 2
  assert not os.path.exists(pretrained + ".tmp")

  # Each checkpoint kept its per-image test log p, whose mean is the curve's number.
  per_image = [np.load(wd.test_log_prob_path(workdir, e)) for e in (1, 2)]
  assert [-p.astype(np.float64).mean() for p in per_image] == pytest.approx(
      [c["test_nll"] for c in curve["checkpoints"]], abs=1e-4)

  # Third call: finished, nothing trains. A last checkpoint without per-image values (as
  # rows scored before they were kept) is rescored from the backup: the same numbers.
  os.remove(wd.test_log_prob_path(workdir, 2))
  logs.clear()
  reproduce.run_rows(table, [row], log=logs.append, **roots)
  assert not any("->" in m for m in logs), logs
  assert any("epoch 2 rescored" in m for m in logs), logs
  np.testing.assert_allclose(np.load(wd.test_log_prob_path(workdir, 2)), per_image[1],
                             atol=1e-4)

  # The SavedModel scores with TensorFlow alone and gives the evaluation's kind of number.
  x = tfiw_data.load("binarized_mnist").test[:3]
  lp = tf.saved_model.load(pretrained).signatures["log_prob"](x=tf.constant(x))["log_prob"]
  assert np.all(np.isfinite(lp.numpy())) and np.all(lp.numpy() < 0)

  report = json.load(open(os.path.join(roots["docs_dir"], "reproduction.json")))
  assert set(report) == {"rows"}
  for r in report["rows"]:
    assert tuple(r) == reproduce.JSON_KEYS
  mine = [r for r in report["rows"] if (r["table"], r["row"]) == (table, row)][0]
  assert mine["epochs_done"] == 2 and mine["protocol_epochs"] == 3280
  assert mine["tfiw_nll"] == pytest.approx(curve["checkpoints"][-1]["test_nll"])
  assert mine["tfiw_nll"] > 0 and mine["pretrained"] == f"pretrained/{table}/{row}"
  md = open(os.path.join(roots["docs_dir"], "reproduction.md")).read()
  assert "runlocal smoke run" in md and "reproduced |" not in md
  assert os.path.exists(os.path.join(roots["docs_dir"], f"reproduction_{table}.png"))


def test_mnist_burda_split_and_fresh_test_binarization(shared_data, tmp_path):
  s = tfiw_data.load("mnist_burda", data_dir=shared_data)
  raw = np.load(os.path.join(shared_data, "mnist.npz"))
  assert s.train.shape == (59600, 784) and s.valid.shape == (400, 784)
  np.testing.assert_array_equal(s.train, raw["train"][:59600] / np.float32(255))
  np.testing.assert_array_equal(s.test_intensities, raw["test"] / np.float32(255))
  assert s.dynamic and set(np.unique(s.test)) <= {0.0, 1.0}
  # The existing dynamic `mnist` keeps its 50,000-image split and no grayscale test set.
  old = tfiw_data.load("mnist", data_dir=shared_data)
  assert old.train.shape[0] == 50000 and old.test_intensities is None

  cfg = burda2016_table1.get_config("row=iwae_l1_k5,runlocal")
  run = reproduce.RowRun(cfg, str(tmp_path / "row"), shared_data, None, log=lambda m: None,
                         data_cache={("mnist_burda", shared_data): s})
  (x1, seed1), (x4, seed4) = run.test_set(1), run.test_set(4)
  assert seed1 != seed4 and not np.array_equal(x1, x4)
  # Each binarization is Bernoulli(intensity): its mean matches within 6 standard errors.
  p = s.test_intensities
  se = np.sqrt(np.sum(p * (1 - p))) / p.size
  for x in (x1, x4):
    assert abs(x.mean() - p.mean()) < 6 * se


def test_zoo_train_runs_a_paper_row_on_dynamic_mnist(shared_data, tmp_path):
  """The module docstring's zoo.train command for a row (grayscale validation images, which
  the data check once refused), here with the variant that takes all of yburda/iwae's known
  choices: its Adam, exp link, seed-123 initialisation and unshuffled minibatches."""
  cfg = burda2016_table1.get_config("row=vae_l1_k1_released_code,runlocal")
  results = trainer.train_and_evaluate(cfg, str(tmp_path / "run"), data_dir=shared_data,
                                       log=lambda *_: None)
  assert np.isfinite(results["test_log_likelihood"])
  saved = json.load(open(tmp_path / "run" / "config.json"))
  assert saved["optim"]["adam"] == "yburda_iwae" and saved["data"]["name"] == "mnist_burda"
  assert saved["model"]["init"] == "yburda_iwae" and saved["method"]["latents"] == "gaussian_exp"
  assert saved["data"]["shuffle"] is False


def test_resume_refuses_another_training_config_but_not_a_corrected_citation(tmp_path):
  cfg = burda2016_table1.get_config("row=iwae_l1_k5")
  reproduce._check_config(str(tmp_path), cfg)
  cited = burda2016_table1.get_config("row=iwae_l1_k5")
  cited.paper.source = "corrected citation"
  reproduce._check_config(str(tmp_path), cited)  # fine
  other = burda2016_table1.get_config("row=iwae_l1_k5")
  other.data.batch_size = 100
  with pytest.raises(ValueError, match="different config.*data.batch_size"):
    reproduce._check_config(str(tmp_path), other)
  # Steps per XLA call leave the trajectory alone: accepted, and the new value recorded.
  fused = burda2016_table1.get_config("row=iwae_l1_k5")
  fused.train.steps_per_execution = 7
  reproduce._check_config(str(tmp_path), fused)
  assert json.load(open(tmp_path / "config.json"))["train"]["steps_per_execution"] == 7


def test_rows_survive_a_lost_workdir_through_the_tracked_mirror(tmp_path, rows_without_xla,
                                                                monkeypatch):
  state = str(tmp_path / "state")
  roots = dict(workdir_root=str(tmp_path / "runs"), pretrained_root=None, docs_dir=None,
               runlocal=True, state_root=state)
  table, row = "burda2016_appd", "iwae_l1_k5"
  reproduce.run_rows(table, [row], stop_epoch=1, log=lambda m: None, **roots)
  mirror = os.path.join(state, table, row)
  assert reproduce.backup_epoch(mirror) == 1
  weights = open(os.path.join(mirror, "backup", "latest.weights.h5"), "rb").read()
  assert sorted(os.listdir(mirror)) == ["backup", "config.json", "curve.json", "test_log_prob"]

  # A fresh machine: the workdir is gone, the mirror (committed) is not.
  import shutil
  shutil.rmtree(roots["workdir_root"])
  logs = []
  reproduce.run_rows(table, [row], log=logs.append, **roots)
  assert any("seeded from" in m and "epoch 1" in m for m in logs), logs
  assert any("epochs 1 -> 2" in m for m in logs), logs
  assert reproduce.backup_epoch(mirror) == 2
  assert open(os.path.join(mirror, "backup", "latest.weights.h5"), "rb").read() != weights
  curve = json.load(open(os.path.join(mirror, "curve.json")))
  assert [e["epoch"] for e in curve["epochs"]] == [1, 2]

  # The report reads the mirror where there is no workdir.
  entries = reproduce.collect(str(tmp_path / "nowhere"), state)
  mine = [e for e in entries if (e["json"]["table"], e["json"]["row"]) == (table, row)][0]
  assert mine["json"]["epochs_done"] == 2 and mine["trained_epochs"] == 2

  # A kill between the swap's two renames leaves only <mirror>.old: it is still found.
  os.rename(mirror, mirror + ".old")
  fresh = str(tmp_path / "fresh")
  assert reproduce.seed_from_state(mirror, fresh) == 2
  assert reproduce.backup_epoch(fresh) == 2
  assert reproduce.seed_from_state(mirror, fresh) == 0  # already as far: untouched

  # A kill while seeding a workdir, once the backup's epoch is copied and not all of its
  # weights: the half copy is never taken for a backup (it would count as epoch 2).
  def half_copy(src, dst):
    os.makedirs(dst)
    shutil.copy2(os.path.join(src, "training_metadata.json"), dst)
    with open(os.path.join(dst, "latest.weights.h5"), "wb") as f:
      f.write(b"truncated")
    raise KeyboardInterrupt  # stands for the kill
  torn = str(tmp_path / "torn")
  monkeypatch.setattr(reproduce.shutil, "copytree", half_copy)
  with pytest.raises(KeyboardInterrupt):
    reproduce.seed_from_state(mirror, torn)
  monkeypatch.undo()
  wd.recover_folder(wd.backup_dir(torn))  # as RowRun does before seeding
  assert reproduce.seed_from_state(mirror, torn) == 2
  assert (open(wd.backup_weights_path(torn), "rb").read()
          == open(wd.backup_weights_path(mirror + ".old"), "rb").read())


def test_a_runlocal_smoke_run_never_writes_the_committed_report_or_models(tmp_path):
  runs = str(tmp_path / "runs")
  assert reproduce.output_roots(True, runs) == (os.path.join(runs, "pretrained"),
                                               os.path.join(runs, "docs"))
  assert reproduce.output_roots(False, runs) == (os.path.join(REPO, "pretrained"),
                                                os.path.join(REPO, "docs"))
  assert reproduce.output_roots(True, runs, "p", "d") == ("p", "d")  # explicit flags win


def test_resume_script_runs_every_command_of_every_chain(tmp_path):
  """reproduction/resume.sh with a stand-in python that only logs its arguments: each default
  chain must run all its commands in order (a chain written over two lines once lost its
  second command to `read`, silently)."""
  import subprocess
  import sys
  import time
  fake = tmp_path / "python"
  fake.write_text("#!/bin/sh\necho \"$@\"\n")
  fake.chmod(0o755)
  longruns = tmp_path / "longruns"
  env = dict(os.environ, PYTHON=str(fake), LONGRUNS=str(longruns))
  env.pop("VIRTUAL_ENV", None)
  subprocess.run(["bash", os.path.join(REPO, "reproduction", "resume.sh")], env=env,
                 check=True, capture_output=True)
  expected = {"small_k": ["vae_l1_k1", "vae_l1_k1_yburda_adam", "vae_l1_k1_seed1",
                          "vae_l1_k1_seed2", "vae_l1_k5", "iwae_l2_k5"],
              "k5": ["iwae_l1_k5", "vae_l1_k1_released_code", "iwae_l1_k5_released_code",
                     "iwae_l1_k5_seed1", "iwae_l1_k5_yburda_adam",
                     "vae_l1_k50,iwae_l1_k50,iwae_l2_k50"]}
  logs = {}
  for _ in range(100):  # the chains run in the background
    logs = {name: (longruns / "logs" / f"{name}.log").read_text().splitlines()
            if (longruns / "logs" / f"{name}.log").exists() else [] for name in expected}
    if all(len(logs[n]) == len(rows) for n, rows in expected.items()):
      break
    time.sleep(0.1)
  for name, rows in expected.items():
    assert [f"--rows={r}" in line for r, line in zip(rows, logs[name])] == [True] * len(rows), \
        (name, logs[name])
    assert len(logs[name]) == len(rows), (name, logs[name])
    assert all("-m zoo.reproduce" in line and "--state_root=" in line for line in logs[name])

  # Started again while a run of these chains is going, it refuses and starts nothing.
  going = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)",
                            f"--workdir_root={longruns}/runs"])
  try:
    again = subprocess.run(["bash", os.path.join(REPO, "reproduction", "resume.sh")], env=env,
                           capture_output=True, text=True)
  finally:
    going.kill()
    going.wait()
  assert again.returncode == 1 and f"pids {going.pid}" in again.stderr, again.stderr
  assert "started" not in again.stdout and len(os.listdir(longruns / "code")) == 1


def test_a_misspelt_row_is_refused_with_a_suggestion_before_anything_is_written(tmp_path):
  # (the command line's one-line message: tests/test_cli.py)
  with pytest.raises(reproduce.RowError, match="unknown row 'iwae_l1_k5_sed1' .*did you "
                                               "mean 'iwae_l1_k5_seed1'"):
    reproduce.run_rows("burda2016_table1", ["iwae_l1_k5_sed1"], str(tmp_path / "runs"))
  assert not (tmp_path / "runs").exists()


def test_report_names_one_data_file_once_however_its_path_was_spelled():
  spellings = ["../shared/data/mnist.npz", "/work/main/../shared/data/mnist.npz",
               "/work/shared/data/mnist.npz"]
  assert {reproduce._data_label(s) for s in spellings} == {"../shared/data/mnist.npz"}
  assert reproduce._data_label("tfds") == "tfds"
