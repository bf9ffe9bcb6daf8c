"""Weight initialisations a paper's released code used, where they differ from Keras's.

``yburda_iwae`` is the initialisation of Burda et al.'s released code (github.com/yburda/iwae,
``nnet.py`` ``Linear.random``): every linear layer's weights W [n_in, n_out] are drawn as
``np.random.RandomState(123).uniform(-s, s, (n_in, n_out))`` with s = √(6/(n_in + n_out)),
biases zero. The distribution is Keras's Glorot-uniform default; what differs is the seed:
every layer restarts the same stream, so layers of one shape start equal (q's mean and
log-σ heads, q's and p's 200x200 layers), and the others start as prefixes of one draw.
The variant rows of configs/papers/burda2016_table1.py measure what that changes.
"""
import keras
import numpy as np


def yburda_iwae(model, seed=123):
  """Set every Dense kernel of the built ``model`` as yburda/iwae draws it; biases untouched
  (zero at build, the output bias as ``init_from_data`` set it, as theirs is)."""
  dense = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Dense)]
  if not dense:
    raise ValueError(f"{type(model).__name__} has no Dense layers to initialise")
  for layer in dense:
    n_in, n_out = layer.kernel.shape
    scale = np.sqrt(6.0 / (n_in + n_out))
    draw = np.random.RandomState(seed).uniform(-scale, scale, (n_in, n_out))
    layer.kernel.assign(draw.astype(layer.kernel.dtype))
