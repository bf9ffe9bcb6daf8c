"""Bad data, bad configs and interruptions: refused early with a message that says what
and where, never at the cost of finished work. The NaN and SIGKILL cases run the real
``python -m zoo.train`` in subprocesses."""
import glob
import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfiw
from configs import iwae as iwae_config
from tfiw import data, evaluation, validation
from tfiw.testing import tiny_binary_data
from zoo import evaluate, trainer, workdir as wd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D = 12


def _env(**extra):
  return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **extra)


def _cli(args, patch="", **kw):
  """``python -m zoo.train ARGS`` in a fresh process; ``patch`` runs first (same process)."""
  script = textwrap.dedent(patch) + textwrap.dedent(f"""
      import runpy, sys
      sys.argv = ["zoo.train", *{list(args)!r}]
      runpy.run_module("zoo.train", run_name="__main__", alter_sys=True)
  """)
  return subprocess.Popen([sys.executable, "-c", script], cwd=REPO, env=_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _wait(proc, timeout=600):
  out, err = proc.communicate(timeout=timeout)
  return proc.returncode, out, err


def _small_binarized_mnist(path, **edit):
  """A small copy of the embedded data set (real images) in data_dir layout."""
  full = np.load(os.path.join(data.EMBEDDED_DIR, "binarized_mnist.npz"))
  arrays = {"train": full["train"][:400].astype(np.float32),
            "valid": full["valid"][:100].astype(np.float32),
            "test": full["test"][:300].astype(np.float32)}
  for key, fn in edit.items():
    arrays[key] = fn(arrays[key])
  os.makedirs(path, exist_ok=True)
  np.savez(os.path.join(path, "binarized_mnist.npz"), **arrays)
  return str(path)


def _model(likelihood="bernoulli"):
  model = tfiw.IWAE(input_dim=D, latent_dims=[2], hidden=[8], num_samples=2,
                    likelihood=likelihood)
  model.compile(keras.optimizers.Adam(1e-3))
  return model


def _set(a, row, col, value):
  a = a.copy()
  a[row, col] = value
  return a


# ---- 1. non-finite values ---------------------------------------------------------

def test_nonfinite_data_is_refused_naming_array_and_first_row():
  x = tiny_binary_data(40, D)
  model = _model()
  with pytest.raises(validation.DataError, match=r"x contains NaN .*row 3, column 5"):
    model.fit(_set(x, 3, 5, np.nan), epochs=1, verbose=0)
  with pytest.raises(validation.DataError, match=r"validation_data contains NaN .*row 1"):
    model.fit(x, validation_data=_set(x, 1, 0, np.inf), epochs=1, verbose=0)
  with pytest.raises(validation.DataError, match=r"contains NaN .*row 7"):
    model.log_prob(_set(x, 7, 2, -np.inf), num_samples=2)
  splits = data.Splits(x, x, _set(x, 9, 1, np.nan), False, "bernoulli", "mem")
  with pytest.raises(validation.DataError, match=r"toy test contains NaN .*row 9, column 1"):
    validation.check_splits(splits, "toy")


def test_a_dynamic_data_sets_grayscale_validation_split_is_accepted_and_checked():
  """mnist / mnist_burda keep grayscale validation images (binarized when used): accepted as
  intensities in [0, 1], and refused outside them; the test split must still be binary."""
  gray = np.random.default_rng(0).uniform(size=(40, D)).astype(np.float32)
  validation.check_splits(data.Splits(gray, gray, (gray > 0.5).astype(np.float32), True,
                                      "bernoulli", "mem"), "toy")
  with pytest.raises(validation.DataError, match="toy valid"):
    validation.check_splits(data.Splits(gray, _set(gray, 2, 3, 1.5), gray > 0.5, True,
                                        "bernoulli", "mem"), "toy")
  with pytest.raises(validation.DataError, match="toy test"):
    validation.check_splits(data.Splits(gray, gray, gray, True, "bernoulli", "mem"), "toy")


def test_cli_refuses_nan_data_before_touching_the_workdir(tmp_path):
  data_dir = _small_binarized_mnist(tmp_path / "data", test=lambda t: _set(t, 7, 100, np.nan))
  workdir = tmp_path / "run"
  rc, out, err = _wait(_cli(["--config=configs/iwae.py:runlocal", f"--data_dir={data_dir}",
                             f"--workdir={workdir}"]))
  assert rc == 1, err[-2000:]
  assert "binarized_mnist test contains NaN" in err and "row 7, column 100" in err
  assert "Traceback" not in err and not workdir.exists()


def test_cli_refuses_a_workdir_another_process_trains_in_before_writing(tmp_path):
  """Two trainers in one workdir would interleave their backups (e.g. the same command
  started twice): the second is refused, naming the first, before it writes anything."""
  workdir = str(tmp_path / "run")
  with wd.exclusive(workdir):  # this test process stands in for a running zoo.train
    rc, out, err = _wait(_cli(["--config=configs/iwae.py:runlocal", f"--workdir={workdir}"]))
  assert rc == 1, err[-2000:]
  assert f"{workdir} is in use by another process (pid {os.getpid()}," in err, err[-2000:]
  assert "Traceback" not in err and os.listdir(workdir) == [wd.LOCK_FILE]
  # zoo.evaluate on a run that is still training says so (not "train first").
  with wd.exclusive(workdir):
    with pytest.raises(wd.WorkdirBusy, match=f"in use by another process \\(pid {os.getpid()},"):
      evaluate.evaluate_run(workdir)


# The estimator's losses turn NaN from the model's 8th draw on: epoch 1 (steps 1-5, draw 6
# for validation) stays finite, epoch 2's step 2 is the first NaN step.
_NAN_PATCH = """
    import numpy as np, tensorflow as tf
    from tfiw.models import IWAE
    original = IWAE.compute_losses
    def compute_losses(self, x, seed):
      losses = original(self, x, seed)
      scale = tf.where(self._step_counter > 7, np.float32(np.nan), np.float32(1))
      return losses._replace(losses={k: v * scale for k, v in losses.losses.items()},
                             bound=losses.bound * scale)
    IWAE.compute_losses = compute_losses
"""


def test_nan_loss_stops_naming_epoch_and_step_and_keeps_last_finite_backup(tmp_path):
  import h5py
  workdir = tmp_path / "run"
  rc, out, err = _wait(_cli(["--config=configs/iwae.py:runlocal", "--config.train.epochs=3",
                             f"--workdir={workdir}"], patch=_NAN_PATCH))
  assert rc == 1, err[-3000:]
  assert "non-finite" in err and "in epoch 2" in err and "steps 1-5 of 5" in err, err[-2000:]
  assert "Traceback" not in err
  assert not (workdir / "results.json").exists() and not (workdir / "model.keras").exists()
  # The backup is epoch 1's, untouched by the NaN epoch: every tensor finite.
  meta = json.load(open(workdir / "backup" / "training_metadata.json"))
  assert meta["epoch"] == 1
  tensors = []
  with h5py.File(workdir / "backup" / "latest.weights.h5", "r") as f:
    f.visititems(lambda name, obj: tensors.append(obj[()]) if isinstance(obj, h5py.Dataset)
                 else None)
  assert len(tensors) > 10 and all(np.all(np.isfinite(t)) for t in tensors)
  assert list(json.load(open(workdir / "history.json"))) == ["0"]
  # (Output a person reads: no cuInit line on a machine without a GPU driver, no Keras
  # "shuffle ... will be ignored" warning from tfiw's own fit.)
  assert "shuffle" not in err
  if not trainer.has_nvidia_driver():
    assert "cuInit" not in err


def test_nonfinite_evaluation_writes_no_results(tmp_path, monkeypatch):
  cfg = iwae_config.get_config("runlocal")
  cfg.train.epochs = 1
  cfg.eval.max_examples = 20
  monkeypatch.setattr(trainer, "test_log_likelihood",
                      lambda model, cfg, x, **kw: np.where(np.arange(20) == 4, np.nan, -1.))
  with pytest.raises(trainer.NonFiniteError, match="non-finite"):
    trainer.train_and_evaluate(cfg, str(tmp_path / "run"), log=lambda *_: None)
  assert not (tmp_path / "run" / "results.json").exists()
  assert (tmp_path / "run" / "model.keras").exists()  # training's work is kept


# ---- 2. support of the likelihood ---------------------------------------------------

def test_bernoulli_fit_evaluate_and_log_prob_refuse_non_binary_data_with_one_message():
  x = tiny_binary_data(40, D)
  model = _model()
  messages = []
  for call in (lambda: model.fit(x * 255, epochs=1, verbose=0),
               lambda: model.evaluate(x * 0.5, verbose=0),
               lambda: model.log_prob(x * 0.5, num_samples=2)):
    with pytest.raises(validation.DataError) as e:
      call()
    messages.append(str(e.value))
  assert all(m.startswith(validation.BINARY_MESSAGE) for m in messages), messages


def test_data_is_checked_once_per_dataset_not_per_step(monkeypatch):
  calls = []
  check = validation.check_data
  monkeypatch.setattr(validation, "check_data", lambda *a, **k: calls.append(1) or check(*a, **k))
  x = tiny_binary_data(40, D)
  _model().fit(x, batch_size=10, epochs=3, validation_data=x, verbose=0)  # 12 steps
  assert len(calls) == 2  # x and validation_data


def test_gaussian_model_warns_about_raw_pixel_scale():
  x = np.random.default_rng(0).random((40, D)).astype(np.float32)
  model = _model("gaussian")
  with pytest.warns(validation.ScaleWarning, match="up to 2"):
    model.fit(x * 255, epochs=1, verbose=0)
  with warnings.catch_warnings():
    warnings.simplefilter("error", validation.ScaleWarning)
    model.fit(x, epochs=1, verbose=0)  # [0, 1]: no warning


def test_grayscale_data_given_as_binarized_mnist_is_refused(tmp_path):
  data_dir = _small_binarized_mnist(tmp_path / "data", train=lambda t: t * 0.5)
  with pytest.raises(validation.DataError, match=r"must be binary .*binarized_mnist train"):
    trainer.train_and_evaluate(iwae_config.get_config("runlocal"), str(tmp_path / "run"),
                               data_dir=data_dir)
  assert not (tmp_path / "run").exists()


# ---- 3. a failed start blocks nothing; 4. resuming; 5. fair subsets; 6. data_dir ----

@pytest.mark.parametrize("field,value,message", [
    ("method.name", "iwea", "did you mean 'iwae'"),
    ("method.num_samples", 0, "method.num_samples must be an integer >= 1"),
    ("data.name", "binarised_mnist", "did you mean 'binarized_mnist'"),
    ("data.batch_size", 0, "data.batch_size"),
    ("optim.schedule", "burdaa", "did you mean 'burda'"),
    ("optim.learning_rate", -1.0, "optim.learning_rate must be a positive number"),
    ("model.latent_dims", [], "model.latent_dims"),
    ("model.hidden", [[200], [100]], "one list per stochastic layer (1)"),
    ("model.activation", "tanhh", "model.activation"),
    ("train.epochs", 0, "train.epochs"),
    ("train.strategy", "mirored", "did you mean 'mirrored'"),
    ("eval.num_samples", 0, "eval.num_samples"),
    ("eval.chunk_size", -1, "eval.chunk_size"),
    ("eval.max_examples", -5, "eval.max_examples"),
    ("export.num_samples", 0, "export.num_samples"),
])
def test_config_is_validated_whole_before_the_workdir_is_touched(tmp_path, field, value,
                                                                 message):
  cfg = iwae_config.get_config("runlocal")
  section, key = field.split(".")
  cfg[section][key] = value
  with pytest.raises(trainer.ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
    trainer.train_and_evaluate(cfg, str(tmp_path / "run"))
  assert not (tmp_path / "run").exists()


def test_config_validation_lists_every_problem_and_method_options():
  cfg = iwae_config.get_config("runlocal")
  cfg.method.num_sampels = 5
  cfg.eval.num_samples = 0
  with pytest.raises(trainer.ConfigError) as e:
    trainer.validate_config(cfg)
  assert "method.num_sampels is not an option of 'iwae'; did you mean 'num_samples'" in str(
      e.value) and "eval.num_samples" in str(e.value)
  for name in tfiw.METHODS:  # every registered method's options are found
    assert "num_samples" in trainer.method_options(name)
  with pytest.raises(ValueError, match="layers=3: Burda et al.'s architectures have 1 or 2"):
    iwae_config.get_config("layers=3")


def test_failed_start_then_corrected_run_then_resume_rules(tmp_path):
  data_dir = _small_binarized_mnist(tmp_path / "data")
  workdir = str(tmp_path / "run")
  logs = []
  cfg = iwae_config.get_config("runlocal")
  cfg.train.epochs = 1
  cfg.method.name = "iwea"
  with pytest.raises(trainer.ConfigError):
    trainer.train_and_evaluate(cfg, workdir, data_dir=data_dir)
  cfg.method.name = "iwae"  # the corrected command, same workdir
  first = trainer.train_and_evaluate(cfg, workdir, data_dir=data_dir, log=logs.append)
  # 5: a fixed random subset (runlocal's 200 of the 300 test images), recorded.
  assert first["eval_subset"]["indices"] == evaluation.subset_indices(300, 200).tolist()
  assert first["eval_num_examples"] == 200 and first["eval_subset"]["of"] == 300
  # 6: the run records its data_dir; zoo.evaluate reads the same data without being told.
  assert json.load(open(os.path.join(workdir, "config.json")))["data"]["data_dir"] == data_dir
  summary = evaluate.evaluate_run(workdir, num_samples=3, max_examples=30)
  assert summary["subset"]["of"] == 300
  assert summary["subset"]["indices"] == evaluation.subset_indices(300, 30).tolist()
  # 4: evaluation fields may differ and more epochs continue the finished run.
  cfg.train.epochs, cfg.eval.num_samples = 2, 7
  second = trainer.train_and_evaluate(cfg, workdir, data_dir=data_dir, log=logs.append)
  assert "Resuming from epoch 1 of 2" in "\n".join(logs)
  assert second["epochs"] == 2 and second["eval_num_samples"] == 7
  assert second["final_train_bound"] is not None
  # A trajectory field that differs is refused, by name.
  cfg.method.num_samples, cfg.optim.learning_rate = 7, 0.01
  with pytest.raises(trainer.ConfigError, match=r"method.num_samples: 50 -> 7\n  "
                                                r"optim.learning_rate: 0.001 -> 0.01"):
    trainer.train_and_evaluate(cfg, workdir, data_dir=data_dir)


# SIGKILL in the middle of the backup's save after the second epoch, between its two
# renames: backup/ is gone, backup.old holds the first epoch's state, backup.new the
# second's. (Keras's own save wrote in place: a kill there left a truncated weights file.)
_KILL_IN_THE_SECOND_BACKUP_SWAP = """
    import json, os, signal
    rename = os.rename
    def rename_or_die(src, dst):
      src = str(src)
      if src.endswith(os.sep + "backup.new") and json.load(
          open(os.path.join(src, "training_metadata.json")))["epoch"] == 2:
        os.kill(os.getpid(), signal.SIGKILL)
      rename(src, dst)
    os.rename = rename_or_die
"""


def test_sigkill_while_saving_a_backup_then_resume_equals_an_uninterrupted_run(tmp_path):
  # A learning rate that moves the weights, 3 epochs, eval on 100 examples.
  args = ["--config=configs/iwae.py:runlocal", "--config.train.epochs=3",
          "--config.optim.learning_rate=0.01", "--config.eval.max_examples=100"]
  plain, killed = str(tmp_path / "plain"), str(tmp_path / "killed")
  runs = [_cli(args + [f"--workdir={plain}"]),
          _cli(args + [f"--workdir={killed}"], patch=_KILL_IN_THE_SECOND_BACKUP_SWAP)]
  (rc_plain, _, err_plain), (rc_killed, _, _) = [_wait(p) for p in runs]
  assert rc_plain == 0, err_plain[-3000:]
  assert rc_killed == -signal.SIGKILL
  assert not os.path.exists(os.path.join(killed, "results.json"))
  assert not os.path.exists(os.path.join(killed, "backup"))  # killed mid-swap
  rc, out, err = _wait(_cli(args + [f"--workdir={killed}"]))
  assert rc == 0, err[-3000:]
  assert "from a save that a kill interrupted" in out and "Resuming from epoch 1 of 3" in out
  a = json.load(open(os.path.join(plain, "results.json")))
  b = json.load(open(os.path.join(killed, "results.json")))
  for key in ("test_log_likelihood", "test_log_likelihood_stderr", "final_train_bound"):
    assert a[key] == b[key], key
  assert json.load(open(os.path.join(plain, "history.json"))) == json.load(
      open(os.path.join(killed, "history.json")))


def test_subset_is_a_fixed_uniform_sample_not_the_first_rows():
  n, k = 10000, 200
  idx = evaluation.subset_indices(n, k)
  np.testing.assert_array_equal(idx, evaluation.subset_indices(n, k))  # fixed
  assert len(set(idx.tolist())) == k and np.all(np.diff(idx) > 0)
  assert evaluation.subset_indices(n, 0) is None and evaluation.subset_indices(50, 80) is None
  # A test file ordered by class (10 blocks of 1000): the first 200 rows are one class;
  # a uniform sample without replacement hits each class Hypergeometric(200, 1000/10000)
  # times, mean 20 and sd ~4.2, so every class appears.
  counts = np.bincount(idx // 1000, minlength=10)
  assert counts.min() >= 1 and np.all(np.abs(counts - 20) < 5 * 4.25)
  # The mean index of a uniform sample: sd ≈ n / sqrt(12 k) ≈ 204; within 5 sd of n/2.
  assert abs(idx.mean() - n / 2) < 5 * n / np.sqrt(12 * k)


def test_every_runlocal_config_runs_without_shared_data(monkeypatch):
  monkeypatch.delenv("TFIW_DATA_DIR", raising=False)
  loaded = {}
  for path in sorted(glob.glob(os.path.join(REPO, "configs", "*.py"))):
    name = os.path.basename(path)[:-3]
    if name in ("__init__", "common", "sbn_common"):
      continue
    module = __import__(f"configs.{name}", fromlist=["get_config"])
    cfg = module.get_config("runlocal")
    trainer.validate_config(cfg)
    if cfg.data.name not in loaded:
      loaded[cfg.data.name] = data.load(cfg.data.name, data_dir=cfg.data.data_dir or "")
    trainer.check_data(cfg, loaded[cfg.data.name], log=lambda *_: None)
  assert "frey_faces" in loaded  # configs/vae_dgp.py:runlocal, from the package


def test_frey_faces_ship_with_the_package_and_no_fake_tfds_builder_is_suggested():
  s = data.load("frey_faces", data_dir="")
  assert s.source == os.path.join(data.EMBEDDED_DIR, "frey_faces.npz")
  assert (len(s.train), len(s.valid), len(s.test)) == (1565, 200, 200)
  assert s.train.shape[1] == 560 and 0 <= s.train.min() and s.train.max() <= 1
  assert data.sha256(s.source) == data.EMBEDDED_SHA256["frey_faces.npz"]
  message = data.missing_message("frey_faces", "frey_faces.npz", "/nowhere")
  assert "tfds" not in message and "--data_dir" in message
  assert "tfds.builder('omniglot')" in data.missing_message(
      "omniglot", "omniglot_28x28_areadown.npz", "/nowhere", "omniglot")


def test_embedded_frey_faces_equal_the_team_copy(shared_data):
  sums = dict(line.split()[::-1] for line in open(os.path.join(shared_data, "SHA256SUMS")))
  assert sums["frey_faces.npz"] == data.EMBEDDED_SHA256["frey_faces.npz"]


# ---- 8. output a person reads ---------------------------------------------------------

def test_cuinit_line_is_filtered_from_stderr(capfd):
  with trainer.filtered_stderr(("failed call to cuInit",)):
    os.write(2, b"E0000 cuda_platform.cc:52] failed call to cuInit: UNKNOWN ERROR (303)\n")
    os.write(2, b"a line that stays\n")
  err = capfd.readouterr().err
  assert "a line that stays" in err and "cuInit" not in err


def test_config_error_is_a_short_message(tmp_path):
  rc, out, err = _wait(_cli(["--config=configs/iwae.py:layers=3",
                             f"--workdir={tmp_path / 'run'}"]))
  assert rc == 1 and "layers=3" in err and "1 or 2" in err
  assert "Traceback" not in err
  lines = [ln for ln in err.splitlines() if not ln.startswith(("I0000", "WARNING: All",
                                                              "To enable", "E0000"))]
  assert len(lines) <= 2, err
  if not trainer.has_nvidia_driver():
    assert "cuInit" not in err


def test_messages_for_wrong_shapes_empty_data_and_negative_sample_counts():
  model = _model()
  x = tiny_binary_data(40, D)
  with pytest.raises(validation.DataError, match=r"1-D array .* x\[None\]"):
    model.fit(x[0], epochs=1, verbose=0)
  with pytest.raises(validation.DataError, match="x is empty"):
    model.fit(np.zeros((0, D), np.float32), epochs=1, verbose=0)
  with pytest.raises(validation.DataError, match=r"flatten images first"):
    model.fit(x.reshape(40, 3, 4), epochs=1, verbose=0)
  with pytest.raises(validation.DataError, match=r"input_dim=12"):
    model.fit(np.zeros((4, D + 1), np.float32), epochs=1, verbose=0)
  for bad in (-1, 0, 2.5):
    with pytest.raises(ValueError, match="num_examples must be a whole number >= 1"):
      model.sample(bad)
  assert model.log_prob(np.zeros((0, D), np.float32), num_samples=2).shape == (0,)


def test_tfiw_fit_on_a_dataset_gives_no_shuffle_warning():
  x = tiny_binary_data(40, D)
  ds = tf.data.Dataset.from_tensor_slices(x).batch(10)
  with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    _model().fit(ds, epochs=1, verbose=0)
  assert not [w for w in caught if "shuffle" in str(w.message)]
