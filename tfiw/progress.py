"""Progress output for long evaluations (no dependency beyond the standard library)."""
import sys
import time


class Progress:
  """A one-line progress bar on stderr (no dependency; quiet when verbose=0)."""

  def __init__(self, total, label, verbose):
    self.total, self.label, self.verbose, self.start = total, label, verbose, time.time()

  def update(self, done):
    if not self.verbose:
      return
    frac = done / max(self.total, 1)
    elapsed = time.time() - self.start
    eta = elapsed / frac - elapsed if frac > 0 else float("nan")
    bar = "=" * int(30 * frac)
    sys.stderr.write(f"\r{self.label} [{bar:<30}] {done}/{self.total} "
                     f"{elapsed:.0f}s elapsed, ETA {eta:.0f}s")
    if done >= self.total:
      sys.stderr.write("\n")
    sys.stderr.flush()
