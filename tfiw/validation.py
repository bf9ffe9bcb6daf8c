"""Checks of data against a model: pure numpy functions, run once per dataset.

Every check raises ``DataError`` (a ValueError) with a message that names the array and,
for a bad value, the first row and column holding it, so a user can find it. They run
before any training or scoring (``fit``, ``evaluate``, ``log_prob``, ``zoo.train``), on
the whole array once, never inside a step: a NaN or a 0.5 pixel is a property of the data
set, not of a batch.

Support of the likelihood:
- Bernoulli: log p(x | z) = sum_d x_d log σ(l_d) + (1 - x_d) log σ(-l_d) is a
  log-probability only for x ∈ {0, 1}^D. For other x it is a number without meaning
  (x = 255 gives a "bound" far above 0 nats), so such data is refused.
- Gaussian: any real x is in the support, but log p(x) shifts by -D log c when x is
  scaled by c, so the nats of raw 0-255 pixels are not comparable with those of the
  usual [0, 1] or standardised data. Values beyond ``GAUSSIAN_SCALE_WARN`` in magnitude
  get a warning, not an error.
"""
import warnings

import numpy as np

BINARY_MESSAGE = ("x must be binary (0 or 1) for a Bernoulli likelihood; "
                  "binarize it first (e.g. tfiw.data.binarize)")
NONFINITE_MESSAGE = "contains NaN or infinite values"
# |x| above this for a Gaussian likelihood: almost surely unscaled data (e.g. raw pixels).
GAUSSIAN_SCALE_WARN = 10.0


class DataError(ValueError):
  """Data that a model cannot be trained or scored on (the message says why and where)."""


class ScaleWarning(UserWarning):
  """Gaussian-likelihood data on a scale where its log-likelihoods are not comparable."""


def first_index(mask):
  """(row, column) of the first True of a 2-D boolean mask, or None."""
  flat = np.flatnonzero(mask)
  if not flat.size:
    return None
  return tuple(int(i) for i in np.unravel_index(flat[0], mask.shape))


def _where(name, mask, x):
  row, col = first_index(mask)
  return f"first at {name} row {row}, column {col}: {x[row, col]!r}"


def check_shape(x, input_dim=None, name="x", allow_empty=False):
  """x as a numpy array after checking it is [N, D] (D = input_dim if given), N > 0."""
  x = np.asarray(x)
  d = "D" if input_dim is None else input_dim
  if x.ndim == 1:
    raise DataError(
        f"{name} must have shape [N, {d}] (a batch of rows), got a 1-D array of shape "
        f"{list(x.shape)}; for a single example pass {name}[None] (shape [1, {x.shape[0]}])")
  if x.ndim != 2:
    hint = (f"; flatten images first: {name}.reshape(len({name}), -1)"
            if x.ndim > 2 and (input_dim is None or
                               int(np.prod(x.shape[1:])) == input_dim) else "")
    raise DataError(f"{name} must have shape [N, {d}], got {list(x.shape)}{hint}")
  if input_dim is not None and x.shape[1] != input_dim:
    raise DataError(f"{name} must have shape [N, {input_dim}], got {list(x.shape)}: "
                    f"the model has input_dim={input_dim}")
  if x.shape[0] == 0 and not allow_empty:
    raise DataError(f"{name} is empty (shape {list(x.shape)}): there is nothing to train "
                    "or evaluate on")
  return x


def check_finite(x, name="x"):
  """Raise if x holds NaN or ±inf, naming the first bad row and column."""
  bad = ~np.isfinite(x)
  if bad.any():
    raise DataError(f"{name} {NONFINITE_MESSAGE} ({int(bad.sum())} values; "
                    f"{_where(name, bad, x)})")


def check_binary(x, name="x"):
  bad = (x != 0) & (x != 1)
  if bad.any():
    raise DataError(f"{BINARY_MESSAGE} ({name}: {int(bad.sum())} non-binary values; "
                    f"{_where(name, bad, x)})")


def check_intensities(x, name="x"):
  """Values in [0, 1] (grayscale data binarized afresh every epoch, x_bin ~ Bernoulli(x))."""
  bad = (x < 0) | (x > 1)
  if bad.any():
    raise DataError(f"{name} must hold intensities in [0, 1] to be binarized "
                    f"(x_bin ~ Bernoulli(x)); {int(bad.sum())} values are outside "
                    f"({_where(name, bad, x)}); scale it first, e.g. x / 255")


def warn_scale(x, name="x"):
  """Warn (``ScaleWarning``) when Gaussian data is far off the [0, 1] / standardised scale."""
  peak = float(np.max(np.abs(x))) if x.size else 0.0
  if peak > GAUSSIAN_SCALE_WARN:
    warnings.warn(
        f"{name} has values up to {peak:g} in magnitude: a Gaussian likelihood's "
        "log p(x) shifts by -D log c when x is scaled by c, so nats on this scale (raw "
        "pixels?) are not comparable with results on [0, 1] or standardised data; scale "
        "it first (e.g. x / 255)", ScaleWarning, stacklevel=3)
    return True
  return False


def check_support(x, likelihood, name="x"):
  """The likelihood's support: binary for Bernoulli; a scale warning for Gaussian."""
  if likelihood == "bernoulli":
    check_binary(x, name)
  elif likelihood == "gaussian":
    warn_scale(x, name)
  else:
    raise ValueError(f"unknown likelihood {likelihood!r}")


def check_data(x, input_dim, likelihood, name="x", allow_empty=False):
  """float32 [N, D] after the shape, finiteness and support checks (in that order)."""
  x = check_shape(x, input_dim, name, allow_empty)
  x = np.asarray(x, np.float32)
  check_finite(x, name)
  check_support(x, likelihood, name)
  return x


def check_splits(splits, dataset=""):
  """The data set's arrays (``tfiw.data.Splits``), each checked once before training.

  A dynamically binarized data set holds intensities in [0, 1] in its training and
  validation splits (the trainer binarizes the validation images before use); every other
  array must be in the likelihood's support. Names read "binarized_mnist train", etc.
  """
  prefix = f"{dataset} " if dataset else ""
  width = splits.train.shape[1] if np.ndim(splits.train) == 2 else None
  for part in ("train", "valid", "test"):
    x = getattr(splits, part)
    if x is None:
      continue
    name = f"{prefix}{part}"
    x = check_shape(x, width, name)
    check_finite(x, name)
    if part in ("train", "valid") and splits.dynamic:
      check_intensities(x, name)
    else:
      check_support(x, splits.likelihood, name)
