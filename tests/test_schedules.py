import numpy as np

from tfiw.schedules import BurdaSchedule, burda_total_epochs


def test_burda_schedule_stages():
  s = BurdaSchedule(steps_per_epoch=10, base_learning_rate=1e-3)
  assert burda_total_epochs() == 3280
  # stage i covers epochs [(3^i - 1)/2, (3^(i+1) - 1)/2)
  expected_stage = {0: 0, 1: 1, 3: 1, 4: 2, 12: 2, 13: 3, 3279: 7, 5000: 7}
  for epoch, stage in expected_stage.items():
    for step in (epoch * 10, epoch * 10 + 9):
      np.testing.assert_allclose(float(s(step)), 1e-3 * 10 ** (-stage / 7), rtol=1e-5)
