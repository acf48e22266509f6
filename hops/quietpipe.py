"""Standard output that goes quiet when its reader goes away (`doit bootstrap_status | head -6`).

Python ignores SIGPIPE, so a write to a closed pipe raises BrokenPipeError: doit printed a traceback for it
(exit 3) and Python another at exit. SIGPIPE is not set back to its default (hops writes to sockets, where a
signal would kill the process). Instead, as Python's documentation recommends for pipes, the first broken
write points file descriptor 1 at /dev/null; the command then finishes as it would have (a bootstrap is not cut
in the middle of a step because nobody reads its output; its run log still has every line) and exits with its
own code, with no traceback.
"""

from __future__ import annotations

import os
import sys
from typing import Any, TextIO


class QuietPipe:
    """A text stream proxy: writes and flushes that hit a broken pipe are dropped from then on."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.broken = False

    def write(self, text: str) -> int:
        """Write through; after the reader has gone, drop the text."""
        if not self.broken:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._silence()
        return len(text)

    def writelines(self, lines: Any) -> None:
        """Write each line (see write)."""
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        """Flush through; a broken pipe silences the stream."""
        if not self.broken:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._silence()

    def _silence(self) -> None:
        self.broken = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self._stream.fileno())  # Python's own flush at exit then succeeds
            os.close(devnull)
        except (OSError, ValueError):  # no real descriptor (a StringIO under test): dropping the text is enough
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)  # isatty, fileno, encoding, … as the real stream


def install(command: Any, params: Any) -> None:
    """Make sys.stdout, the doit command's output stream and `run`'s outfile (when they are sys.stdout) quiet on
    a broken pipe. `command` and `params` are doit's, from DoitCmdBase.execute (hops.runguard)."""
    original = sys.stdout
    if isinstance(original, QuietPipe) or original is None:
        return
    quiet = QuietPipe(original)
    sys.stdout = quiet
    if getattr(command, "outstream", None) is original:
        command.outstream = quiet
    if params is not None and params.get("outfile") is original:
        params.set_default("outfile", quiet)  # not a user-given value: doit's default kept as default
