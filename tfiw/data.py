"""Datasets as numpy splits and tf.data pipelines.

Sources, in order of preference:
- ``binarized_mnist``: fixed binarization (Larochelle & Murray 2011), embedded in the
  package (tfiw/data_files/binarized_mnist.npz); a ``data_dir`` copy overrides it.
- ``mnist``: grayscale MNIST, dynamically binarized (a fresh binarization every epoch;
  the test set binarized once with a fixed seed). TFDS ``mnist`` when prepared in the
  TFDS data dir, else ``mnist.npz`` in ``data_dir``.
- ``mnist_burda``: the same grayscale MNIST split as Burda et al.'s released code
  (yburda/iwae ``datasets.py``): train on the first 59,600 training images, validate on
  the last 400. ``test`` is binarized once with a fixed seed (like ``mnist``) and
  ``test_intensities`` keeps the grayscale test set, so an evaluation can binarize it
  afresh as their code does for every test minibatch.
- ``omniglot``: 28x28 Omniglot, dynamically binarized. TFDS ``omniglot`` (105x105,
  area-downsampled to 28x28) when prepared, else ``omniglot_28x28_areadown.npz``.
- ``frey_faces``: 28x20 grayscale faces in [0, 1] (Gaussian likelihood), embedded in the
  package (tfiw/data_files/frey_faces.npz, 1,965 x 560 uint8, provenance in the team's
  shared/data README); a ``data_dir`` copy overrides it. TFDS has no builder for it.

``data_dir`` defaults to the ``TFIW_DATA_DIR`` environment variable; its layout is
that of the team's shared/data folder.
"""
import hashlib
import os
from typing import NamedTuple, Optional

import numpy as np
import tensorflow as tf

EMBEDDED_DIR = os.path.join(os.path.dirname(__file__), "data_files")
EMBEDDED_SHA256 = {
    "binarized_mnist.npz": "7a049ae3a0d88e964af4b41bbdb14e4303595e1c5de65f8bd2455cdcebb3514b",
    "frey_faces.npz": "a8a8aa235ffe678af7e158a18c6257cac821c34ec1fd3921fa641b2943f413ae"}
TEST_BINARIZATION_SEED = 123
BURDA_MNIST_TRAIN = 59600  # yburda/iwae datasets.py: the last 400 training images validate


class Splits(NamedTuple):
  train: np.ndarray            # float32 [N, D]: binary, or intensities in [0, 1] if dynamic
  valid: Optional[np.ndarray]
  test: np.ndarray             # float32 [N, D], binary whenever the likelihood is Bernoulli
  dynamic: bool                # train must be binarized afresh every epoch
  likelihood: str              # "bernoulli" or "gaussian"
  source: str                  # where the data came from (recorded in results)
  # Grayscale test set of a dynamic dataset whose protocol re-binarizes the test set at
  # every evaluation (``mnist_burda``); None otherwise.
  test_intensities: Optional[np.ndarray] = None


class DatasetNotAvailable(FileNotFoundError):
  pass


def sha256(path):
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def binarize(x, seed):
  """Stochastic binarization x_bin ~ Bernoulli(x) for intensities x in [0, 1] (numpy)."""
  rng = np.random.default_rng(seed)
  return (rng.random(x.shape, dtype=np.float32) < x).astype(np.float32)


def _data_dir(data_dir):
  return data_dir or os.environ.get("TFIW_DATA_DIR", "")


def missing_message(name, filename, data_dir, builder=None):
  """How to get a dataset that is not here; suggests TFDS only for ``builder`` (a TFDS
  builder that exists: TFDS has none for e.g. Frey faces)."""
  put = (f"put {filename} (the layout of the team's shared/data folder) in a directory and "
         f"pass --data_dir=DIR or set TFIW_DATA_DIR=DIR.")
  where = f"{filename} was not found in data_dir={_data_dir(data_dir)!r}"
  if builder is None:
    return f"dataset {name!r} is not available: {where}; {put}"
  return (f"dataset {name!r} is not available: no TFDS copy is prepared and {where}. Either "
          f"prepare it with tensorflow-datasets (`python -c \"import tensorflow_datasets as "
          f"tfds; tfds.builder('{builder}').download_and_prepare()\"`, needs internet or the "
          f"files in TFDS's manual_dir) or {put}")


def _local(data_dir, filename, name, builder=None):
  path = os.path.join(_data_dir(data_dir), filename) if _data_dir(data_dir) else ""
  if not path or not os.path.exists(path):
    raise DatasetNotAvailable(missing_message(name, filename, data_dir, builder))
  return np.load(path)


def _local_or_embedded(data_dir, filename):
  """Path of ``filename`` in data_dir if there, else the package's embedded copy."""
  local = os.path.join(_data_dir(data_dir), filename) if _data_dir(data_dir) else ""
  return local if local and os.path.exists(local) else os.path.join(EMBEDDED_DIR, filename)


def _tfds_prepared(name, tfds_data_dir=None):
  """The TFDS builder if ``name`` is already prepared locally, else None (never downloads)."""
  try:
    import tensorflow_datasets as tfds
    builder = tfds.builder(name, data_dir=tfds_data_dir)
    return builder if builder.is_prepared() else None
  except Exception:  # TFDS missing, or a broken/partial preparation: fall back to files.
    return None


def _tfds_images(builder, split, size=None, invert=False):
  import tensorflow_datasets as tfds
  ds = builder.as_dataset(split=split)
  images = []
  for batch in tfds.as_numpy(ds.batch(4096)):
    img = tf.image.convert_image_dtype(batch["image"], tf.float32)
    if img.shape[-1] == 3:
      img = tf.image.rgb_to_grayscale(img)
    if invert:  # TFDS Omniglot is black ink on white; we model ink = 1
      img = 1.0 - img
    if size is not None:
      img = tf.image.resize(img, size, method="area")
    images.append(tf.reshape(img, [img.shape[0], -1]).numpy())
  return np.concatenate(images).astype(np.float32)


def load(name, data_dir=None, tfds_data_dir=None):
  """Load dataset ``name`` as ``Splits``; raises DatasetNotAvailable saying how to get it."""
  if name == "binarized_mnist":
    path = _local_or_embedded(data_dir, "binarized_mnist.npz")
    d = np.load(path)
    f = lambda k: d[k].astype(np.float32)
    return Splits(f("train"), f("valid"), f("test"), False, "bernoulli", path)
  if name in ("mnist", "mnist_burda"):
    builder = _tfds_prepared("mnist", tfds_data_dir)
    if builder is not None:
      train, test, source = _tfds_images(builder, "train"), _tfds_images(builder, "test"), "tfds"
    else:
      d = _local(data_dir, "mnist.npz", name, "mnist")
      train, test = d["train"] / np.float32(255), d["test"] / np.float32(255)
      source = os.path.join(_data_dir(data_dir), "mnist.npz")
    if name == "mnist_burda":
      n = BURDA_MNIST_TRAIN
      return Splits(train[:n], train[n:], binarize(test, TEST_BINARIZATION_SEED), True,
                    "bernoulli", source, test_intensities=test)
    test = binarize(test, TEST_BINARIZATION_SEED)
    return Splits(train[:50000], train[50000:], test, True, "bernoulli", source)
  if name == "omniglot":
    builder = _tfds_prepared("omniglot", tfds_data_dir)
    if builder is not None:
      train = _tfds_images(builder, "train", (28, 28), invert=True)
      test = _tfds_images(builder, "test", (28, 28), invert=True)
      source = "tfds"
    else:
      # Stand-in for Burda's chardata.mat: drawers 0-14 train, 15-19 test (shared/data README).
      d = _local(data_dir, "omniglot_28x28_areadown.npz", name, "omniglot")
      x = np.concatenate([d["background"], d["evaluation"]]) / np.float32(255)
      drawer = np.concatenate([d["background_drawer"], d["evaluation_drawer"]])
      train, test = x[drawer < 15], x[drawer >= 15]
      source = os.path.join(_data_dir(data_dir), "omniglot_28x28_areadown.npz")
    return Splits(train, None, binarize(test, TEST_BINARIZATION_SEED), True, "bernoulli", source)
  if name == "frey_faces":
    path = _local_or_embedded(data_dir, "frey_faces.npz")
    x = np.load(path)["data"] / np.float32(255)
    perm = np.random.default_rng(0).permutation(len(x))  # no official split: fixed shuffle
    x = x[perm]
    return Splits(x[:1565], x[1565:1765], x[1765:], False, "gaussian", path)
  raise ValueError(f"unknown dataset {name!r}; valid: {sorted(DATASETS)}")


DATASETS = ("binarized_mnist", "mnist", "mnist_burda", "omniglot", "frey_faces")


# Batches kept ready ahead of the training step (fixed: see ``_fixed_pipeline``).
PREFETCH = 16
# Batches prepared per call of the training pipeline's map (``train_dataset``).
CHUNK = 50


def _fixed_pipeline(ds):
  """Turn tf.data's autotuning off (fixed parallelism and buffer sizes instead).

  The autotuner's background thread wakes at doubling intervals (10 ms, 20 ms, ... so at
  1.27 s, 2.55 s, 5.11 s, ... after an iterator starts) and destroying the iterator at
  the end of every ``fit``/``evaluate`` call waited for its next wake-up: a 2.3 s fit
  call took 2.55 s, a 2.6 s one 5.11 s (measured; docs/performance.md). These pipelines
  are an in-memory gather plus a cast, which need no tuning.
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return ds.with_options(options)


def pass_order(n, seed, p):
  """The order of data pass ``p``: a permutation of range(n), a function of (seed, p) only
  (argsort of stateless uniforms; a tensor)."""
  u = tf.random.stateless_uniform([n], seed=tf.stack([tf.cast(seed, tf.int64),
                                                      tf.cast(p, tf.int64)]))
  return tf.argsort(u, stable=True)


def train_dataset(x, batch_size, seed, dynamic, start_batch=0, shuffle=True):
  """Shuffled, repeated, batched training stream (drop_remainder: one compiled shape).

  The stream is a function of ``seed`` and the position in it, never of how it was
  reached: data pass p (0, 1, ...) visits the rows in ``pass_order(n, seed, p)``, the
  passes are concatenated, and batch i holds positions i*B .. (i+1)*B - 1 of that
  sequence. ``start_batch`` starts the stream at batch i, so a run resumed after
  E epochs of S steps (``start_batch=E*S``) sees exactly the batches an uninterrupted run
  sees from there. With ``dynamic``, batch i is binarized with the stateless seed
  (seed, i), a fresh binarization every epoch that is also a function of the position.
  Use with ``steps_per_epoch``. Batches are float32. ``shuffle=False``: every pass visits
  the rows in their stored order, as Burda et al.'s released code trains (yburda/iwae
  ``train.py``: minibatch i of every epoch is rows iB..(i+1)B-1, binarized afresh).
  """
  n = x.shape[0]
  if batch_size > n:
    raise ValueError(f"batch_size {batch_size} is larger than the training set ({n})")
  binary = not dynamic and np.all((x == 0) | (x == 1))
  # uint8 storage: 4x less memory for intensities and binary pixels alike.
  stored = tf.constant((x * 255).round().astype(np.uint8) if dynamic else (
      x.astype(np.uint8) if binary else x.astype(np.float32)))
  first_pass, offset = divmod(int(start_batch) * batch_size, n)
  order = ((lambda p: pass_order(n, seed, p)) if shuffle
           else (lambda p: tf.range(n, dtype=tf.int32)))
  ds = tf.data.Dataset.counter(first_pass).map(order)
  ds = ds.unbatch().skip(offset).batch(batch_size, drop_remainder=True)
  # CHUNK batches per map call, then split again: one call's fixed cost (and one gather)
  # serves CHUNK batches, which halves the pipeline's CPU time per batch (~340 -> ~210 us
  # dynamic, 170 -> 85 us fixed, batch 20 of MNIST; docs/performance.md). The batches and
  # their binarization seeds are those of the one-batch-per-call definition above.
  ds = ds.batch(CHUNK, drop_remainder=True)
  ds = tf.data.Dataset.zip(ds, tf.data.Dataset.counter(int(start_batch), CHUNK))
  if dynamic:
    def _binarize(idx, first):
      p = tf.cast(tf.gather(stored, idx), tf.float32) / 255.0  # [CHUNK, B, D]
      seeds = tf.stack([tf.fill([CHUNK], tf.cast(seed, tf.int64)),
                        first + tf.range(CHUNK, dtype=tf.int64)], axis=1)
      u = tf.map_fn(lambda s: tf.random.stateless_uniform(tf.shape(p)[1:], seed=s), seeds,
                    fn_output_signature=tf.float32)
      return tf.cast(u < p, tf.float32)
    ds = ds.map(_binarize)
  else:
    # (Yielding the uint8 batches and casting in the model saved this map's ~0.17 ms
    # per batch, but Keras's multi-worker data handling all-reduces batch values and
    # has no uint8 collective.)
    ds = ds.map(lambda idx, first: tf.cast(tf.gather(stored, idx), tf.float32))
  return _fixed_pipeline(ds.unbatch().prefetch(PREFETCH))


def eval_dataset(x, batch_size):
  return _fixed_pipeline(
      tf.data.Dataset.from_tensor_slices(x.astype(np.float32)).batch(batch_size).prefetch(2))
