"""zoo.train / zoo.evaluate end to end on runlocal configs; resume; config typos."""
import json
import os
import subprocess
import sys

import keras
import pytest

from configs import iwae as iwae_config
from zoo import evaluate, trainer

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(*args):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  return subprocess.run([sys.executable, "-m", *args], cwd=REPO, env=env, capture_output=True,
                        text=True, timeout=600)


def test_train_cli_end_to_end_then_finished_run_says_so(tmp_path):
  workdir = str(tmp_path / "run")
  out = _run("zoo.train", "--config=configs/iwae.py:runlocal", f"--workdir={workdir}")
  assert out.returncode == 0, out.stderr[-3000:]
  assert "Test log-likelihood" in out.stdout
  results = json.load(open(os.path.join(workdir, "results.json")))
  assert results["test_log_likelihood"] < 0 and results["eval_num_examples"] == 200
  for name in ("model.keras", "config.json", "backup", "tensorboard"):
    assert os.path.exists(os.path.join(workdir, name)), name
  again = _run("zoo.train", "--config=configs/iwae.py:runlocal", f"--workdir={workdir}")
  assert again.returncode == 0 and "finished already" in again.stdout


def test_config_typo_fails():
  out = _run("zoo.train", "--config=configs/iwae.py:runlocal", "--config.method.num_sample=5",
             "--workdir=/tmp/never")
  assert out.returncode != 0 and "num_sample" in out.stderr


def test_config_arguments():
  c = iwae_config.get_config("k=5,layers=2")
  assert c.method.num_samples == 5 and c.model.latent_dims == [100, 50]
  with pytest.raises(ValueError, match="unknown config argument"):
    iwae_config.get_config("kk=5")


class _StopAfterEpoch(keras.callbacks.Callback):
  def __init__(self, epoch):
    super().__init__()
    self.epoch = epoch

  def on_epoch_end(self, epoch, logs=None):
    if epoch == self.epoch:
      raise KeyboardInterrupt("simulated interruption")


class _Epochs(keras.callbacks.Callback):
  def __init__(self):
    super().__init__()
    self.seen = []

  def on_epoch_begin(self, epoch, logs=None):
    self.seen.append((epoch, int(self.model.optimizer.iterations.numpy())))


def test_interrupted_run_resumes_from_last_checkpoint(tmp_path):
  cfg = iwae_config.get_config("runlocal")
  cfg.train.epochs = 3
  workdir = str(tmp_path / "run")
  with pytest.raises(KeyboardInterrupt):
    trainer.train_and_evaluate(cfg, workdir, extra_callbacks=[_StopAfterEpoch(1)])
  assert not os.path.exists(os.path.join(workdir, "results.json"))
  # config.json records "auto" resolved; a run recorded before the precision fields
  # existed (they are removed here) ran float32 and still resumes.
  config_path = os.path.join(workdir, "config.json")
  recorded = json.load(open(config_path))
  assert recorded["train"]["precision"] == recorded["eval"]["precision"] == "float32"
  del recorded["train"]["precision"], recorded["eval"]["precision"]
  json.dump(recorded, open(config_path, "w"))
  epochs = _Epochs()
  results = trainer.train_and_evaluate(cfg, workdir, extra_callbacks=[epochs])
  # Epochs 0 and 1 finished before the interruption: only epoch 2 runs, and the
  # optimizer resumes at step 2 * steps_per_epoch.
  assert epochs.seen == [(2, 2 * cfg.train.steps_per_epoch)]
  assert results["test_log_likelihood"] < 0
  assert results["train_precision"] == results["eval_precision"] == "float32"
  with pytest.raises(ValueError, match="different config"):
    cfg.method.num_samples = 7
    trainer.train_and_evaluate(cfg, workdir)


def test_evaluate_writes_table_json_and_pictures(tmp_path, capsys):
  cfg = iwae_config.get_config("runlocal")
  workdir = str(tmp_path / "run")
  trainer.train_and_evaluate(cfg, workdir)
  summary = evaluate.evaluate_run(workdir, num_samples=10, max_examples=50)
  assert "test log-likelihood" in capsys.readouterr().out
  assert summary["num_examples"] == 50 and len(summary["active_units"]) == 1
  for name in ("evaluation.json", "samples.png", "reconstructions.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 100
  assert summary["precision"] == trainer.eval_precision(cfg)  # the config's, resolved
  # --precision: the same examples and seed with bf16 matmuls, recorded; the number moves
  # (bf16 ran) but little (what stays wide stayed wide)
  bf16 = evaluate.evaluate_run(workdir, num_samples=10, max_examples=50, precision="bfloat16")
  assert bf16["precision"] == "bfloat16"
  assert 0 < abs(bf16["log_likelihood"] - summary["log_likelihood"]) < 0.5


def test_steps_per_execution_divides_the_epoch():
  from zoo.trainer import steps_per_execution
  assert steps_per_execution(10, 3000) == 10
  assert steps_per_execution(10, 5) == 5
  assert steps_per_execution(10, 12) == 6
  assert steps_per_execution(10, 11) == 1
  assert steps_per_execution(1, 600) == 1
