"""Image grids for samples and reconstructions (numpy + tf.io.encode_png, no extra deps)."""
import math

import numpy as np
import tensorflow as tf

IMAGE_SHAPES = {784: (28, 28), 560: (28, 20)}  # MNIST/Omniglot, Frey faces


def image_shape(dim):
  """(height, width) for flat images of ``dim`` values: known shapes, squares, else a strip."""
  if dim in IMAGE_SHAPES:
    return IMAGE_SHAPES[dim]
  side = int(round(math.sqrt(dim)))
  return (side, side) if side * side == dim else (1, dim)


def grid(images, columns=10, shape=None, pad=1):
  """Flat images [N, D] in [0, 1] -> one uint8 grid [H, W] with ``columns`` per row."""
  images = np.clip(np.asarray(images, np.float32), 0, 1)
  h, w = shape or image_shape(images.shape[1])
  rows = max(1, math.ceil(len(images) / columns))
  out = np.ones((rows * (h + pad) + pad, columns * (w + pad) + pad), np.float32)
  for i, img in enumerate(images):
    r, c = divmod(i, columns)
    out[pad + r * (h + pad):pad + r * (h + pad) + h,
        pad + c * (w + pad):pad + c * (w + pad) + w] = img.reshape(h, w)
  return (out * 255).round().astype(np.uint8)


def side_by_side(originals, reconstructions, shape=None):
  """Pairs (original | reconstruction) interleaved, 10 pairs per row."""
  pairs = np.stack([originals, reconstructions], 1).reshape(-1, originals.shape[1])
  return grid(pairs, columns=20, shape=shape)


def write_png(path, image):
  tf.io.write_file(path, tf.io.encode_png(image[..., None]))
