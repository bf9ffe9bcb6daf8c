"""SavedModel contract: signatures, agreement with the in-process estimate, bad inputs,
and a round trip in a fresh process where tfiw and tensorflow_probability cannot load."""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

import tfiw
from tfiw import export
from tfiw.testing import LinearGaussian, tiny_binary_data

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
D = 12


@pytest.fixture(scope="module")
def binary_export(tmp_path_factory):
  x = tiny_binary_data(150, D)  # 150 rows: two blocks, the last one padded
  model = tfiw.IWAE(input_dim=D, latent_dims=[3], hidden=[16], num_samples=3)
  model.set_output_bias(x.mean(0))
  path = str(tmp_path_factory.mktemp("sm") / "model")
  export.export_savedmodel(model, path, num_samples=30, seed=4, metadata={"dataset": "tiny"})
  return model, x, path


def test_signatures_and_agreement_with_in_process_estimate(binary_export):
  model, x, path = binary_export
  loaded = tf.saved_model.load(path)
  assert set(loaded.signatures) == {"serving_default", "log_prob", "log_prob_k", "sample",
                                    "encode"}
  exported = loaded.signatures["log_prob"](x=tf.constant(x))["log_prob"].numpy()
  # The signatures run TensorFlow's kernels: the same draws as the uncompiled estimator.
  np.testing.assert_allclose(exported, model.log_prob(x, num_samples=30, seed=4,
                                                      jit_compile=False), atol=1e-3)
  # Fewer rows than a block (100): still the in-process numbers (one block of 7 rows).
  few = loaded.signatures["log_prob"](x=tf.constant(x[:7]))["log_prob"].numpy()
  np.testing.assert_allclose(few, model.log_prob(x[:7], num_samples=30, seed=4,
                                                 jit_compile=False), atol=1e-3)
  k7 = loaded.signatures["log_prob_k"](x=tf.constant(x), num_samples=tf.constant(7))
  np.testing.assert_allclose(k7["log_prob"], model.log_prob(x, num_samples=7, seed=4,
                                                            jit_compile=False), atol=1e-3)
  s = loaded.signatures["sample"](num_samples=tf.constant(5), seed=tf.constant(1))
  assert s["x"].shape == (5, D) and set(np.unique(s["x"])) <= {0.0, 1.0}
  again = loaded.signatures["sample"](num_samples=tf.constant(5), seed=tf.constant(1))
  np.testing.assert_array_equal(s["mean"], again["mean"])  # seeded: reproducible
  enc = loaded.signatures["encode"](x=tf.constant(x[:4]))
  assert enc["loc"].shape == (4, 3) and np.all(enc["scale"].numpy() > 0)
  empty = loaded.signatures["log_prob"](x=tf.zeros([0, D]))["log_prob"]
  assert empty.shape == (0,)
  info = json.load(open(os.path.join(path, "assets", "config.json")))
  assert info["log_prob"]["num_samples"] == 30 and info["dataset"] == "tiny"


@pytest.mark.parametrize("signature,inputs,message", [
    ("log_prob", dict(x=np.zeros([2, D + 1], np.float32)), "columns|shape"),
    ("log_prob", dict(x=np.zeros([2, 1, D, 2], np.float32)), "shape"),
    ("log_prob", dict(x=np.zeros([D], np.float32)), "shape"),
    # Same size as [N, D] but another rank (images [N, H, W]): the rank is folded to 2 at
    # trace time, so only the runtime check of the trailing dimensions catches these.
    ("log_prob", dict(x=np.zeros([2, 3, 4], np.float32)), r"x must have shape \[N, 12\]"),
    ("log_prob", dict(x=np.zeros([2, 1, D], np.float32)), r"x must have shape \[N, 12\]"),
    ("log_prob_k", dict(x=np.zeros([2, D, 1], np.float32), num_samples=np.int32(3)),
     r"x must have shape \[N, 12\]"),
    ("encode", dict(x=np.zeros([2, 3, 4], np.float32)), r"x must have shape \[N, 12\]"),
    ("log_prob", dict(x=np.full([2, D], np.nan, np.float32)), "NaN"),
    ("log_prob", dict(x=np.full([2, D], 0.5, np.float32)), "binary"),
    ("log_prob_k", dict(x=np.zeros([2, D], np.float32), num_samples=np.int32(0)),
     "num_samples must be >= 1"),
    ("sample", dict(num_samples=np.int32(0), seed=np.int32(0)), "num_samples must be >= 1"),
    ("encode", dict(x=np.full([2, D], np.inf, np.float32)), "NaN or infinite"),
])
def test_bad_inputs_name_the_problem(binary_export, signature, inputs, message):
  _, _, path = binary_export
  loaded = tf.saved_model.load(path)
  with pytest.raises((tf.errors.InvalidArgumentError, TypeError, ValueError), match=message):
    loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
  # The process survives and the model still answers.
  assert loaded.signatures["log_prob"](x=tf.zeros([1, D]))["log_prob"].shape == (1,)


def test_shape_check_runs_before_the_network_on_every_load(binary_export):
  # Grappler drops the reshape that a control dependency on the check hung on; whether the
  # first matmul then ran before the check was decided anew by each load (it failed with
  # "In[0] is not a matrix" on 5 of 20 loads). The checks now gate x's data path.
  _, _, path = binary_export
  images = tf.zeros([2, 3, 4])
  for _ in range(20):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"x must have shape \[N, 12\]"):
      tf.saved_model.load(path).signatures["encode"](x=images)


def test_linear_gaussian_export_matches_exact_log_px(tmp_path):
  lg = LinearGaussian()
  x = lg.sample(20).astype(np.float32)
  model = lg.keras_model(tfiw.IWAE, q_loc_shift=0.2, q_scale_factor=1.2)
  path = str(tmp_path / "lg")
  export.export_savedmodel(model, path, num_samples=5000)
  got = tf.saved_model.load(path).signatures["log_prob"](x=tf.constant(x))["log_prob"].numpy()
  np.testing.assert_allclose(got, lg.log_marginal(x), atol=0.05)


def test_round_trip_in_fresh_process_without_tfiw_or_tfp(binary_export, tmp_path):
  model, x, path = binary_export
  # More rows than a scorer would plausibly slice its calls into (a slice restarts the
  # model's block seeds at 0: its rows would reuse the first rows' draws).
  x = np.tile(x, (8, 1))[:1100]
  np.save(tmp_path / "x.npy", x)
  expected = model.log_prob(x, num_samples=30, seed=4, jit_compile=False)
  script = textwrap.dedent(f"""
      import sys
      sys.modules['tensorflow_probability'] = None  # any import of them now fails
      sys.modules['tfiw'] = None
      sys.argv = ['score.py', '--model={path}', '--data={tmp_path / 'x.npy'}',
                  '--output={tmp_path / 'scores.npy'}', '--samples=4',
                  '--samples_png={tmp_path / 's.png'}']
      import runpy
      runpy.run_path({os.path.join(REPO, 'export', 'score.py')!r}, run_name='__main__')
  """)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       env=env, timeout=300, cwd=str(tmp_path))
  assert out.returncode == 0, out.stderr[-3000:]
  assert "tensorflow_probability" not in out.stderr and "scoring 1100 rows with K=30" in out.stderr
  np.testing.assert_allclose(np.load(tmp_path / "scores.npy"), expected, atol=1e-3)
  assert os.path.getsize(tmp_path / "s.png") > 50
  # Bad input through the CLI: a clear message, non-zero exit, no traceback.
  np.save(tmp_path / "bad.npy", np.full((2, D), 0.5, np.float32))
  bad = subprocess.run([sys.executable, os.path.join(REPO, "export", "score.py"),
                        f"--model={path}", f"--data={tmp_path / 'bad.npy'}"],
                       capture_output=True, text=True, env=env, timeout=300)
  assert bad.returncode != 0 and "binary" in bad.stderr
  if not any(os.path.exists(p) for p in ("/dev/nvidiactl", "/proc/driver/nvidia")):
    assert "cuInit" not in out.stderr + bad.stderr  # no GPU driver: no cuInit ERROR line


def test_export_cli_from_workdir(tmp_path):
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  workdir, out_dir = str(tmp_path / "run"), str(tmp_path / "sm")
  from configs import iwae as iwae_config
  from zoo import trainer
  trainer.train_and_evaluate(iwae_config.get_config("runlocal"), workdir)
  res = subprocess.run([sys.executable, "-m", "export.savedmodel", f"--workdir={workdir}",
                        f"--output={out_dir}"], cwd=REPO, capture_output=True, text=True,
                       env=env, timeout=300)
  assert res.returncode == 0, res.stderr[-3000:]
  # One line of output, not TensorFlow's INFO logging about renamed inputs and sharding.
  assert "signature_serialization" not in res.stderr and "INFO" not in res.stderr
  info = json.load(open(os.path.join(out_dir, "assets", "config.json")))
  assert info["dataset"] == "binarized_mnist" and info["config"]["method"]["name"] == "iwae"
  assert info["image_shape"] == [28, 28]


@pytest.mark.parametrize("name", sorted(tfiw.METHODS))
def test_every_method_exports_and_its_savedmodel_scores_as_it_does(name, tmp_path):
  """Every registered method (family x objective x estimator) exports; its SavedModel's
  log_prob is the model's own estimate (TensorFlow's kernels, same K and seed)."""
  kw = dict(input_dim=D, latent_dims=[2], hidden=[6], num_samples=2)
  x = tiny_binary_data(9, D)
  if name == "vae_dgp":
    kw.update(num_inducing=4, num_train=9)
    x = x + 0.1
  model = tfiw.METHODS[name](**kw)
  model.init_from_data(x)
  path = str(tmp_path / name)
  export.export_savedmodel(model, path, num_samples=6, seed=2)
  loaded = tf.saved_model.load(path)
  got = loaded.signatures["log_prob"](x=tf.constant(x))["log_prob"].numpy()
  np.testing.assert_allclose(got, model.log_prob(x, num_samples=6, seed=2, jit_compile=False),
                             rtol=1e-4, atol=1e-4)
  out = loaded.signatures["sample"](num_samples=tf.constant(3), seed=tf.constant(1))
  assert out["x"].shape == (3, D)


def test_binarization_noise_script_separates_the_binarization_from_the_images(binary_export):
  """docs/binarization_noise.py: two different binarizations of gray images score
  differently; already-binary images (which binarize to themselves) show no spread."""
  import importlib.util
  spec = importlib.util.spec_from_file_location(
      "binarization_noise", os.path.join(REPO, "docs", "binarization_noise.py"))
  script = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(script)
  _, x, path = binary_export
  model = tf.saved_model.load(path)
  gray = script.binarization_spread(model, np.full((60, D), 0.5, np.float32))
  assert gray["per_image_binarization_sd"] > 0.1
  assert gray["mean_nll"][0] != gray["mean_nll"][1]
  same = script.binarization_spread(model, x[:60])
  assert same["per_image_binarization_sd"] == 0.0
  assert same["mean_nll"][0] == same["mean_nll"][1]
  np.testing.assert_allclose(-same["mean_nll"][0], np.mean(script.score(model, x[:60])))
