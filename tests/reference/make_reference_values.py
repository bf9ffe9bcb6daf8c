"""Writes tests/reference/reference_values.json: every method's numbers for fixed weights,
data and seed, computed with the code BEFORE the family x objective x estimator redesign
(commit cb2be80, pre-redesign API). ``tests/test_reference_values.py`` recomputes them with
the current code and must agree. Kept as the record of how the pins were made; it uses the
old constructor arguments (the test translates them) and is not meant to be re-run: re-running
it on new code would pin the new code to itself.

  python tests/reference/make_reference_values.py
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases  # noqa: E402


def main():
  out = {"commit": "cb2be80", "cases": {}}
  for name, spec in cases.CASES.items():
    model, x = cases.build(spec, cases.old_api)
    out["cases"][name] = {"spec": spec, **cases.measure(model, x, spec)}
    print(name, out["cases"][name]["bound"], flush=True)
  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference_values.json")
  with open(path, "w") as f:
    json.dump(out, f, indent=1, sort_keys=True)


if __name__ == "__main__":
  main()
