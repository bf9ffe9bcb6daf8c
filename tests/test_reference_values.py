"""Every method gives the numbers it gave before the family x objective x estimator
redesign: bound, per-group losses, metrics and gradients (norm and a random projection per
variable group) for fixed weights, data and seed, and the weights after three XLA train
steps for some. The pins (tests/reference/reference_values.json) were computed with the
pre-redesign code (tests/reference/make_reference_values.py at commit cb2be80).
"""
import json
import os
import sys

import numpy as np
import pytest

import tfiw

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference")
sys.path.insert(0, HERE)
import cases  # noqa: E402

with open(os.path.join(HERE, "reference_values.json")) as f:
  PINS = json.load(f)["cases"]


def new_api(method, kw):
  """The pre-redesign constructor arguments in today's API: IWAE's ``gradient`` option is
  the ``estimator`` axis now ("iwae" meaning plain reparameterised gradients)."""
  kw = dict(kw)
  if "gradient" in kw:
    gradient = kw.pop("gradient")
    kw["estimator"] = "reparameterized" if gradient == "iwae" else gradient
  return tfiw.get_method(method)(**kw)


def close(a, b, rtol, what):
  assert np.isclose(a, b, rtol=rtol, atol=1e-5), f"{what}: {a} != pinned {b}"


@pytest.mark.parametrize("name", sorted(PINS))
def test_same_numbers_as_before_the_redesign(name):
  pin = PINS[name]
  model, x = cases.build(pin["spec"], new_api)
  got = cases.measure(model, x, pin["spec"])
  assert got["shapes"] == pin["shapes"], "variable groups changed order or shape"
  close(got["bound"], pin["bound"], 1e-5, "bound")
  assert sorted(got["losses"]) == sorted(pin["losses"])
  for k, v in pin["losses"].items():
    close(got["losses"][k], v, 1e-5, f"{k} loss")
  for k, v in pin["metrics"].items():
    close(got["metrics"][k], v, 1e-5, f"metric {k}")
  for group, g in pin["grads"].items():
    close(got["grads"][group]["norm"], g["norm"], 1e-4, f"{group} gradient norm")
    close(got["grads"][group]["dot"], g["dot"], 1e-4, f"{group} gradient projection")
  if "fit" in pin:
    for k, v in pin["fit"]["logs"].items():
      close(got["fit"]["logs"][k], v, 1e-3, f"fit log {k}")
    close(got["fit"]["weights_dot"], pin["fit"]["weights_dot"], 1e-3, "weights after fit")
    for k, v in pin["fit"]["state"].items():
      close(got["fit"]["state"][k], v, 1e-3, f"state {k}")
