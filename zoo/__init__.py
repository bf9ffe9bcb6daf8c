"""Training, evaluation, benchmark and diagnosis entry points (``python -m zoo.X``)."""
import os

# Quiet TensorFlow's C++ start-up chatter (oneDNN notices, CUDA probing on CPU machines)
# for the command-line tools; a user's explicit setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
