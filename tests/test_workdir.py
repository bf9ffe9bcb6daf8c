"""zoo.workdir: the run-directory layout, its readers and writers, and that the tools use it.

No training: a fake run directory is written by hand with the file names of the layout
that existing runs have on disk, so a change of layout (which would orphan every
existing run) fails here.
"""
import ast
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from zoo import workdir as wd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CONFIG = {"method": {"name": "iwae", "num_samples": 5}, "data": {"name": "binarized_mnist",
          "batch_size": 20, "data_dir": ""}, "seed": 3, "export": {"num_samples": 100}}


def _fake_run(path, epochs_done=2):
  """A run directory as zoo.train leaves one (without the model), written by hand."""
  os.makedirs(os.path.join(path, "backup"))
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(CONFIG, f)
  with open(os.path.join(path, "history.json"), "w") as f:
    json.dump({str(e): {"bound": -100.0 + e} for e in range(epochs_done)}, f)
  with open(os.path.join(path, "backup", "training_metadata.json"), "w") as f:
    json.dump({"epoch": epochs_done}, f)
  with open(os.path.join(path, "results.json"), "w") as f:
    json.dump({"test_log_likelihood": -99.5, "epochs": epochs_done}, f)
  return path


def test_layout_is_the_one_on_disk(tmp_path):
  d = str(tmp_path)
  j = lambda *p: os.path.join(d, *p)
  assert wd.config_path(d) == j("config.json")
  assert wd.history_path(d) == j("history.json")
  assert wd.model_path(d) == j("model.keras")
  assert wd.results_path(d) == j("results.json")
  assert wd.evaluation_path(d) == j("evaluation.json")
  assert wd.picture_path(d, "samples") == j("samples.png")
  assert wd.picture_path(d, "reconstructions") == j("reconstructions.png")
  with pytest.raises(ValueError, match="unknown picture"):
    wd.picture_path(d, "sample")
  assert wd.backup_dir(d) == j("backup") and wd.backup_dir(d, 1) == j("backup_worker1")
  assert wd.backup_weights_path(d) == j("backup", "latest.weights.h5")
  assert wd.tensorboard_dir(d) == j("tensorboard")
  assert wd.eval_tensorboard_dir(d) == j("tensorboard", "eval")
  assert wd.diagnostics_dir(d) == j("diagnostics")
  assert wd.grad_variance_path(d) == j("grad_variance.json")
  assert wd.curve_path(d) == j("curve.json") and wd.ais_path(d) == j("ais.json")
  assert wd.row_dir(d, "burda2016_table1", "iwae_l1_k5") == j("burda2016_table1", "iwae_l1_k5")
  assert wd.lock_path(d) == j(".lock") and wd.lock_path(d, 1) == j(".lock.worker1")


def test_readers_on_a_hand_written_run(tmp_path):
  d = _fake_run(str(tmp_path / "run"))
  cfg = wd.load_config(d)
  assert cfg.method.name == "iwae" and cfg.seed == 3 and cfg.data.batch_size == 20
  assert wd.load_config_dict(d) == CONFIG
  assert wd.read_history(d) == {"0": {"bound": -100.0}, "1": {"bound": -99.0}}
  assert wd.load_results(d)["test_log_likelihood"] == -99.5
  assert wd.backup_epoch(wd.backup_dir(d)) == 2
  # What a fresh directory reads as: nothing done, nothing finished.
  empty = str(tmp_path / "empty")
  os.makedirs(empty)
  assert wd.load_config_dict(empty) is None and wd.load_results(empty) is None
  assert wd.read_history(empty) == {} and wd.backup_epoch(wd.backup_dir(empty)) == 0
  with pytest.raises(FileNotFoundError, match="not a zoo.train run directory"):
    wd.load_config(empty)
  with pytest.raises(FileNotFoundError, match=r"model\.keras not found: train first with "
                     r"python -m zoo\.train"):
    wd.load_run(d)  # (config but no model: training has not ended)


def test_history_epochs_are_replaced_not_appended(tmp_path):
  d = _fake_run(str(tmp_path / "run"))
  wd.write_history_epoch(d, 1, {"bound": -50.0})  # epoch 1 redone after a kill
  wd.write_history_epoch(d, 2, {"bound": -40.0})
  assert wd.read_history(d) == {"0": {"bound": -100.0}, "1": {"bound": -50.0},
                                "2": {"bound": -40.0}}


def test_write_json_is_atomic_and_refuses_non_finite_values(tmp_path):
  path = str(tmp_path / "results.json")
  wd.write_json(path, {"a": 1.5})
  with pytest.raises(ValueError):
    wd.write_json(path, {"a": float("nan")})
  assert wd.read_json(path) == {"a": 1.5}  # the old file survives the refused write
  wd.write_json(path, {"a": float("inf")}, allow_nan=True)  # (a learning curve may hold inf)
  assert wd.read_json(path) == {"a": float("inf")}
  assert sorted(os.listdir(tmp_path)) == ["results.json"]  # no temporary file left behind


def test_load_run_reads_a_saved_model(tmp_path):
  import keras
  import tfiw
  d = _fake_run(str(tmp_path / "run"))
  model = tfiw.IWAE(input_dim=6, latent_dims=[2], hidden=[4], num_samples=2, seed=0)
  model.build()
  model.save(wd.model_path(d))
  cfg, loaded = wd.load_run(d)
  assert cfg.method.name == "iwae" and type(loaded) is type(model)
  for a, b in zip(model.weights, loaded.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
  assert isinstance(wd.load_model(d), keras.Model)


def test_exclusive_refuses_a_second_holder_by_name_and_a_killed_holder_leaves_no_lock(tmp_path):
  """One process per run directory: a second holder is refused with the first one's pid;
  the lock is the kernel's, so a SIGKILLed holder (a killed training run) frees it."""
  d = str(tmp_path / "run")
  with wd.exclusive(d) as path:
    assert path == wd.lock_path(d)
    with pytest.raises(wd.WorkdirBusy, match=rf"in use by another process \(pid {os.getpid()},"):
      with wd.exclusive(d):
        pass
    with wd.exclusive(d, worker=1):  # a non-chief worker's lock is its own
      pass
  with wd.exclusive(d):  # released on leaving the block
    with pytest.raises(wd.WorkdirBusy, match=f"pid {os.getpid()},"):
      wd.check_idle(d)  # (load_run's check: it takes no lock)
  wd.check_idle(d)
  wd.check_idle(str(tmp_path / "missing"))
  assert not os.path.exists(tmp_path / "missing")

  holder = subprocess.Popen(
      [sys.executable, "-c", "import sys, time; from zoo import workdir as wd\n"
       f"with wd.exclusive({d!r}):\n  print('held', flush=True); time.sleep(120)"],
      cwd=REPO, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(wd.WorkdirBusy, match=f"pid {holder.pid},"):
      with wd.exclusive(d):
        pass
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=60)
  with wd.exclusive(d):
    pass


def test_exclusive_warns_and_goes_on_where_nothing_can_lock(tmp_path, monkeypatch):
  monkeypatch.setattr(wd, "fcntl", None)  # as on Windows
  with pytest.warns(UserWarning, match="cannot lock .*no flock"):
    with wd.exclusive(str(tmp_path)):
      wd.check_idle(str(tmp_path))


class _Killed(Exception):
  """Stands for a SIGKILL at one point of a backup's save."""


def _fail_on_call(real, n):
  calls = []
  def wrapper(*args, **kwargs):
    calls.append(args)
    if len(calls) == n:
      raise _Killed(args)
    return real(*args, **kwargs)
  return wrapper


@pytest.mark.parametrize("kill_at, survivor", [
    ("weights", 1), ("metadata", 1), ("first_rename", 1), ("second_rename", 1),
    ("cleanup", 2), (None, 2)])
def test_a_backup_save_killed_anywhere_leaves_one_complete_backup(tmp_path, monkeypatch,
                                                                  kill_at, survivor):
  """Keras wrote the weights in place, then the epoch: a kill in between left epoch 2's
  weights under epoch 1's count, one during the write a truncated file. replace_backup +
  recover_folder leave a matching pair: the old backup, or the new once it is in place."""
  backup = str(tmp_path / "backup")
  def write_weights(epoch, partial=False):
    def save(path):
      with open(path, "w") as f:
        f.write(f"weights of epoch {epoch}")
      if partial:
        raise _Killed(path)
    return save
  wd.replace_backup(backup, write_weights(1), {"epoch": 1})
  if kill_at == "metadata":
    monkeypatch.setattr(wd, "write_json", _fail_on_call(wd.write_json, 1))
  elif kill_at in ("first_rename", "second_rename"):
    monkeypatch.setattr(wd.os, "rename", _fail_on_call(os.rename, 1 + (kill_at == "second_rename")))
  elif kill_at == "cleanup":  # rmtree of a stale .new, of a stale .old, then of the old one
    monkeypatch.setattr(wd.shutil, "rmtree", _fail_on_call(wd.shutil.rmtree, 3))
  try:
    wd.replace_backup(backup, write_weights(2, partial=kill_at == "weights"), {"epoch": 2})
  except _Killed:
    assert kill_at is not None
  monkeypatch.undo()
  wd.recover_folder(backup)
  assert wd.backup_epoch(backup) == survivor
  assert open(os.path.join(backup, wd.BACKUP_WEIGHTS_FILE)).read() == f"weights of epoch {survivor}"
  assert sorted(os.listdir(tmp_path)) == ["backup"]  # no .new or .old left behind


def test_a_swap_after_a_killed_swap_keeps_the_only_complete_copy(tmp_path, monkeypatch):
  """A kill between a swap's two renames leaves only <folder>.old (the state mirror is
  read there as it is); the next swap must not delete it before its new copy is in place."""
  backup = str(tmp_path / "backup")
  wd.replace_backup(backup, lambda path: open(path, "w").write("weights of epoch 1"),
                    {"epoch": 1})
  os.rename(backup, backup + ".old")
  rename = os.rename
  def rename_new_dies(src, dst):
    if str(src).endswith(".new"):
      raise _Killed(src)
    return rename(src, dst)
  monkeypatch.setattr(wd.os, "rename", rename_new_dies)
  with pytest.raises(_Killed):
    wd.replace_backup(backup, lambda path: open(path, "w").write("weights of epoch 2"),
                      {"epoch": 2})
  monkeypatch.undo()
  wd.recover_folder(backup)
  assert wd.backup_epoch(backup) == 1
  assert open(os.path.join(backup, wd.BACKUP_WEIGHTS_FILE)).read() == "weights of epoch 1"


# The tools that read or write run directories; none may join the layout's names itself.
TOOLS = ["zoo/trainer.py", "zoo/train.py", "zoo/evaluate.py", "zoo/diagnose.py",
         "zoo/diagnose_sbn.py", "zoo/reproduce.py", "export/savedmodel.py",
         "docs/ais_eval.py", "docs/vae_dgp_demo.py"]
LAYOUT_NAMES = {wd.CONFIG_FILE, wd.HISTORY_FILE, wd.MODEL_FILE, wd.RESULTS_FILE,
                wd.EVALUATION_FILE, wd.BACKUP_DIR, wd.TENSORBOARD_DIR, wd.EVAL_TENSORBOARD_DIR,
                wd.DIAGNOSTICS_DIR, wd.GRAD_VARIANCE_FILE, wd.CURVE_FILE, wd.AIS_FILE,
                wd.BACKUP_METADATA_FILE, wd.BACKUP_WEIGHTS_FILE, wd.LOCK_FILE, "samples.png",
                "reconstructions.png"}


@pytest.mark.parametrize("path", TOOLS)
def test_tools_build_no_workdir_path_by_hand(path):
  """No os.path.join(..., "<a layout name>") outside zoo/workdir.py (docstrings and
  messages may still name the files)."""
  tree = ast.parse(open(os.path.join(REPO, path)).read())
  bad = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "os.path.join":
      for arg in ast.walk(node):
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and (
            arg.value in LAYOUT_NAMES or arg.value.split("_worker")[0] == wd.BACKUP_DIR):
          bad.append(f"line {node.lineno}: {ast.unparse(node)}")
  assert not bad, f"{path} builds workdir paths by hand (use zoo.workdir): {bad}"
