"""How the zoo's command-line tools start: absl ``app.run(main)`` with a ``--help`` that exits 0.

Every entry point (``python -m zoo.X``, ``python -m export.savedmodel``) ends with

  if __name__ == "__main__":
    cli.run(main, "zoo.X")

``--help`` prints the tool's module docstring (what it does, example commands) and its
flags with their help strings; absl's own ``--help`` exits with status 1, which reads as a
failure to scripts and CI, so here the help flags (--help, --helpshort, --helpfull,
--helpxml, -?) exit 0. Importing this module is cheap (absl only).
"""
import sys

from absl import app, flags

HELP_FLAGS = ("help", "helpshort", "helpfull", "helpxml", "?")


def asked_for_help(argv):
  """True if the command line (``argv[0]`` is the program) holds one of absl's help flags
  before a ``--`` that ends the flags."""
  for arg in argv[1:]:
    if arg == "--":
      break
    if arg.startswith("-") and arg.lstrip("-").split("=", 1)[0] in HELP_FLAGS:
      return True
  return False


def _parse_plain(argv):
  """absl's flag parsing; a bad flag is one message and exit status 1 (no usage dump)."""
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"FATAL Flags parsing error: {e}\n"
             "Pass --helpshort or --helpfull to see help on flags.")


def run(main, program=None, flags_parser=None):
  """``app.run(main)``, the help flags exiting 0.

  Flags are parsed by ``flags_parser`` if given, else, with a ``program`` name, by
  ``zoo.trainer.parse_flags(argv, program)`` (a config file's errors in one line,
  TensorFlow's "no GPU here" cuInit line dropped; it imports TensorFlow and tfiw), else by
  absl alone (for tools that must import TensorFlow late, e.g. to split the CPU first).
  """
  if flags_parser is None and program is not None:
    def flags_parser(argv):
      from zoo import trainer
      return trainer.parse_flags(argv, program)
  parse = flags_parser or _parse_plain

  def parse_with_help(argv):
    try:
      return parse(argv)
    except SystemExit as e:
      # absl's help flags print the usage and exit 1; parse errors exit with a message.
      if e.code == 1 and asked_for_help(argv):
        sys.exit(0)
      raise

  app.run(main, flags_parser=parse_with_help)
