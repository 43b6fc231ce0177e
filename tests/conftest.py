"""Suite-wide settings: one torch thread per test worker (the suite runs on 2 cores with xdist)."""

import os
import warnings

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
warnings.filterwarnings("ignore", category=FutureWarning)
