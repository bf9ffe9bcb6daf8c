"""Data: the embedded dataset's integrity, loaders' shapes and values, seeded binarization."""
import os

import numpy as np
import tensorflow as tf
import pytest

from tfiw import data


def test_embedded_binarized_mnist_sha256():
  path = os.path.join(data.EMBEDDED_DIR, "binarized_mnist.npz")
  assert data.sha256(path) == data.EMBEDDED_SHA256["binarized_mnist.npz"]


def test_embedded_sha256_matches_team_sha256sums(shared_data):
  sums = dict(line.split()[::-1] for line in open(os.path.join(shared_data, "SHA256SUMS")))
  assert sums["binarized_mnist.npz"] == data.EMBEDDED_SHA256["binarized_mnist.npz"]


def test_binarized_mnist_splits():
  s = data.load("binarized_mnist", data_dir="")
  assert (s.train.shape, s.valid.shape, s.test.shape) == ((50000, 784), (10000, 784),
                                                          (10000, 784))
  for split in (s.train, s.valid, s.test):
    assert split.dtype == np.float32 and set(np.unique(split)) == {0.0, 1.0}
  assert not s.dynamic and s.likelihood == "bernoulli"
  assert abs(s.test.mean() - 0.132512) < 1e-5  # shared/data README statistics


def test_binarize_is_seeded_and_unbiased():
  p = np.random.default_rng(0).random((2000, 50)).astype(np.float32)
  a, b, c = data.binarize(p, 1), data.binarize(p, 1), data.binarize(p, 2)
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)
  assert set(np.unique(a)) == {0.0, 1.0}
  assert abs(a.mean() - p.mean()) < 0.01


def test_dynamic_train_stream_rebinarizes_every_epoch_reproducibly():
  x = np.full((40, 30), 0.5, np.float32)
  take = lambda seed: np.stack([b.numpy() for b in data.train_dataset(x, 20, seed, True).take(4)])
  a, b = take(3), take(3)
  np.testing.assert_array_equal(a, b)                      # same seed, same stream
  assert set(np.unique(a)) == {0.0, 1.0}
  assert not np.array_equal(a[:2], a[2:])                  # epoch 2 differs from epoch 1
  assert abs(a.mean() - 0.5) < 0.05


@pytest.mark.parametrize("dynamic", [False, True])
def test_train_stream_is_a_function_of_seed_and_position(dynamic):
  """A stream started at batch b (a resumed run) equals the uninterrupted stream from b,
  passes straddled by batches included (n = 50 is not a multiple of B = 20)."""
  rng = np.random.default_rng(0)
  x = rng.random((50, 6)).astype(np.float32) if dynamic else (
      rng.random((50, 6)) < 0.5).astype(np.float32)
  take = lambda start, k: np.stack([b.numpy() for b in data.train_dataset(
      x, 20, 7, dynamic, start_batch=start).take(k)])
  full = take(0, 12)
  for start in (1, 3, 7):
    np.testing.assert_array_equal(take(start, 12 - start), full[start:])
  if not dynamic:  # each pass of the data is a permutation of its rows
    rows = full.reshape(-1, 6)[:200]
    for p in range(4):
      assert sorted(map(tuple, rows[50 * p:50 * (p + 1)])) == sorted(map(tuple, x))
    assert not np.array_equal(rows[:50], rows[50:100])  # a new order every pass


def test_fixed_train_stream_keeps_values():
  x = (np.random.default_rng(0).random((40, 10)) < 0.3).astype(np.float32)
  ds = data.train_dataset(x, 20, 0, False)
  # No tf.data autotuner: its thread made every fit() end wait for its next wake-up.
  assert ds.options().autotune.enabled is False
  batches = np.concatenate([b.numpy() for b in ds.take(2)])
  assert batches.shape == (40, 10)
  # One epoch is a permutation of the data.
  assert sorted(map(tuple, batches)) == sorted(map(tuple, x))


def test_mnist_and_omniglot_from_local_files(shared_data):
  m = data.load("mnist", data_dir=shared_data)
  assert m.dynamic and m.train.shape == (50000, 784) and m.valid.shape == (10000, 784)
  assert 0.0 <= m.train.min() and m.train.max() <= 1.0
  assert set(np.unique(m.test)) == {0.0, 1.0}
  np.testing.assert_array_equal(m.test, data.load("mnist", data_dir=shared_data).test)
  o = data.load("omniglot", data_dir=shared_data)
  assert o.train.shape == (24345, 784) and o.test.shape == (8115, 784)
  assert set(np.unique(o.test)) == {0.0, 1.0}


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
  monkeypatch.delenv("TFIW_DATA_DIR", raising=False)
  with pytest.raises(data.DatasetNotAvailable, match="TFIW_DATA_DIR"):
    data.load("omniglot", data_dir=str(tmp_path), tfds_data_dir=str(tmp_path))
  with pytest.raises(ValueError, match="valid"):
    data.load("cifar")


def test_tfds_path_when_prepared(tmp_path):
  """A prepared TFDS copy is preferred over local files (TFDS mock data, no download)."""
  import tensorflow_datasets as tfds
  builder = data._tfds_prepared("mnist", str(tmp_path))
  assert builder is None  # nothing prepared in an empty dir -> falls back to files
  with tfds.testing.mock_data(num_examples=60):
    images = data._tfds_images(tfds.builder("mnist", data_dir=str(tmp_path)), "train")
  assert images.shape == (60, 784) and images.min() >= 0 and images.max() <= 1


@pytest.mark.parametrize("dynamic", [False, True])
def test_train_stream_equals_its_definition(dynamic):
  """Batch i holds positions iB..(i+1)B-1 of the concatenated passes pass_order(n, seed, p)
  and, with ``dynamic``, is binarized by stateless uniforms seeded (seed, i): computed here
  one batch at a time, against the pipeline's chunked computation (also from a start
  inside a chunk and across passes: n = 50 is not a multiple of B = 20)."""
  rng = np.random.default_rng(1)
  x = rng.random((50, 6)).astype(np.float32) if dynamic else (
      rng.random((50, 6)) < 0.5).astype(np.float32)
  seed, b = 7, 20
  order = np.concatenate([data.pass_order(50, seed, p).numpy() for p in range(60)])

  def batch(i):
    rows = x[order[i * b:(i + 1) * b]]
    if not dynamic:
      return rows
    p = (rows * 255).round().astype(np.uint8).astype(np.float32) / 255.0
    u = tf.random.stateless_uniform(p.shape, seed=tf.constant([seed, i], tf.int64)).numpy()
    return (u < p).astype(np.float32)

  for start in (0, 13, data.CHUNK - 1):
    got = [t.numpy() for t in data.train_dataset(x, b, seed, dynamic, start_batch=start)
           .take(data.CHUNK + 5)]
    for j, g in enumerate(got):
      np.testing.assert_array_equal(g, batch(start + j), err_msg=f"batch {start + j}")


def test_unshuffled_stream_visits_the_stored_order_every_pass():
  """shuffle=False, as yburda/iwae train.py: batch i of every pass is rows iB..(i+1)B-1,
  binarized afresh each time (the same stateless seed (seed, i) as the shuffled stream)."""
  x = np.random.default_rng(2).random((40, 6)).astype(np.float32)
  batches = [t.numpy() for t in data.train_dataset(x, 20, 7, True, shuffle=False,
                                                   start_batch=1).take(3)]  # 1, 2, 3
  for i, got in zip((1, 2, 3), batches):
    p = x[(i % 2) * 20:(i % 2 + 1) * 20]
    p = (p * 255).round().astype(np.uint8).astype(np.float32) / 255.0
    u = tf.random.stateless_uniform(p.shape, seed=tf.constant([7, i], tf.int64)).numpy()
    np.testing.assert_array_equal(got, (u < p).astype(np.float32))
  fixed = (x < 0.5).astype(np.float32)
  first = [t.numpy() for t in data.train_dataset(fixed, 20, 7, False, shuffle=False).take(4)]
  np.testing.assert_array_equal(np.concatenate(first), np.concatenate([fixed, fixed]))


def test_the_config_chooses_the_order():
  from configs import common
  from zoo import trainer
  x = np.random.default_rng(3).random((60, 6)).astype(np.float32)
  splits = data.Splits(x, None, x[:5], True, "bernoulli", "test")
  cfg = common.get_config("runlocal")
  stream = lambda: np.stack([b.numpy() for b in trainer.train_stream(cfg, splits).take(3)])
  shuffled = stream()
  cfg.data.shuffle = False
  np.testing.assert_array_equal(stream(), np.stack(
      [b.numpy() for b in data.train_dataset(x, 20, cfg.seed, True, shuffle=False).take(3)]))
  assert not np.array_equal(shuffled, stream())
