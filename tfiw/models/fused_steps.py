"""Several training steps in one XLA computation (Keras ``steps_per_execution`` > 1).

Keras runs N steps per call by launching the XLA-compiled step N times from a TensorFlow
while loop; each launch (variable handles, output buffers) cost ~1 ms here, a tenth of a
batch-20, K=50 IWAE step. Here the N batches are fetched and stacked in one call and the
N steps run as a ``tf.while_loop`` inside one XLA computation (docs/performance.md:
74 -> 101 steps/s from 1 to 50 steps per call).
"""
import tensorflow as tf


def _stack(batches):
  return tf.nest.map_structure(lambda *ts: tf.stack(ts), *batches)


def _shape_of(batch):
  return [tuple(t.shape) for t in tf.nest.flatten(batch)]


def train_function(model, keras_function):
  """``model.train_function`` for XLA on one device; ``keras_function`` (Keras's own)
  serves inputs that are not ``tf.data`` iterators."""
  n = model.steps_per_execution

  @tf.function(jit_compile=True, reduce_retracing=True, autograph=False)
  def run_steps(batches):
    """Train on batches stacked on a new leading axis; returns the last step's logs."""
    def body(i, logs):
      return i + 1, model.train_step(tf.nest.map_structure(lambda t: t[i], batches))
    logs = {m.name: m.result() for m in model.metrics}  # train_step's log structure
    count = tf.shape(tf.nest.flatten(batches)[0])[0]
    return tf.while_loop(lambda i, _: i < count, body, (tf.constant(0), logs))[1]

  @tf.function(reduce_retracing=True)
  def fetch(iterator):
    return [iterator.get_next_as_optional() for _ in range(n)]

  @tf.function(reduce_retracing=True)
  def fetch_stacked(iterator):
    """(all N there, the N batches stacked or zeros, the optionals) in one call: with
    static batch shapes (drop_remainder) all N present means all N stackable."""
    opts = fetch(iterator)
    full = tf.reduce_all([o.has_value() for o in opts])
    stacked = tf.cond(
        full, lambda: _stack([o.get_value() for o in opts]),
        lambda: tf.nest.map_structure(lambda s: tf.zeros([n] + s.shape.as_list(), s.dtype),
                                      iterator.element_spec))
    return full, stacked, opts

  def function(iterator):
    if not isinstance(iterator, tf.data.Iterator):
      return keras_function(iterator)
    if all(s.shape.is_fully_defined() for s in tf.nest.flatten(iterator.element_spec)):
      full, stacked, opts = fetch_stacked(iterator)  # the common case: one call
      if full:
        return run_steps(stacked)
    else:
      opts = fetch(iterator)
    batches = [o.get_value() for o in opts if o.has_value()]
    if not batches:
      raise StopIteration
    # One call for the batches shaped like the first (all but a short last batch of a
    # finite dataset), then the rest one at a time.
    first = _shape_of(batches[0])
    same = next((i for i, b in enumerate(batches) if _shape_of(b) != first), len(batches))
    logs = run_steps(_stack(batches[:same]))
    for batch in batches[same:]:
      logs = run_steps(_stack([batch]))
    return logs

  function.run_steps = run_steps  # (tests check the fused path ran)
  return function
