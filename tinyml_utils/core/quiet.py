"""Keep TensorFlow's native (C++) log lines out of notebooks, without hiding errors.

TensorFlow and its converter write start-up chatter straight to file descriptors 1 and 2
("oneDNN custom operations are on", "Could not find cuda drivers", "fully_quantize: 0 ...").
Environment variables no longer silence all of it, so these blocks capture the two file
descriptors into a temporary file and print what was captured only if the block fails.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_output_captured() -> Iterator[None]:
    """Capture fd 1 and 2 during the block; re-emit the capture on stderr if it raises."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 1)
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            capture.seek(0)
            text = capture.read().decode(errors="replace")
            if text.strip():
                print(text, file=sys.stderr)
            raise
        else:
            _restore(saved)


def _restore(saved: list[int]) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    for fd, copy in zip((1, 2), saved, strict=True):
        if copy >= 0:
            os.dup2(copy, fd)
            os.close(copy)
    saved[:] = [-1, -1]
