"""Frames of a live input, read on their own thread as they arrive.

A live source does not wait for its reader: a camera or a stream goes on at its own pace. The
frames are decoded as they come into a small buffer, and the detector takes whatever has
arrived, so a batch never waits for frames that are not there yet. When detection falls behind,
the buffer is full and the oldest waiting frame is dropped (``drop``), so the rows keep up with
the stream and memory stays bounded; without ``drop`` (a pipe, which waits for its reader),
decoding waits instead.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Iterator

from .reader import DecodedFrame, VideoReader

_WAIT_S = 0.1  # how often a waiting reader of the feed looks up (to notice a stop)


class LiveFeed:
    """``reader``'s frames, decoded on a thread into a buffer of ``capacity`` frames.

    :meth:`frames` yields the frames as they arrive and None whenever none is waiting (what
    has arrived is all handed over: time to detect it). ``dropped`` counts the frames left out
    because the buffer was full.
    """

    def __init__(self, reader: VideoReader, capacity: int, drop: bool) -> None:
        self.reader = reader
        self.dropped = 0
        self._capacity = max(1, capacity)
        self._drop = drop
        self._buffer: deque[DecodedFrame] = deque()
        self._changed = threading.Condition()
        self._done = False
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True, name="blazecli-live")
        self._thread.start()

    def _read(self) -> None:
        try:
            for decoded in self.reader.frames():
                with self._changed:
                    while len(self._buffer) >= self._capacity and not self._stop.is_set():
                        if self._drop:
                            self._buffer.popleft()
                            self.dropped += 1
                        else:
                            self._changed.wait(_WAIT_S)
                    if self._stop.is_set():
                        return
                    self._buffer.append(decoded)
                    self._changed.notify_all()
        except BaseException as exc:  # re-raised to the reader of the feed
            self._error = exc
        finally:
            with self._changed:
                self._done = True
                self._changed.notify_all()

    def frames(self) -> Iterator[DecodedFrame | None]:
        """The frames in order, None whenever none is waiting; re-raises the reading error."""
        while True:
            with self._changed:
                if not self._buffer and not self._done:
                    self._changed.wait(_WAIT_S)
                taken = list(self._buffer)
                self._buffer.clear()
                self._changed.notify_all()
                finished = self._done and not taken
            yield from taken
            if finished:
                if self._error is not None:
                    raise self._error
                return
            yield None

    def close(self, wait_s: float = 1.0) -> bool:
        """Stop reading; whether the reading thread has ended (one blocked on a silent source
        ends at the reader's timeout, and the reader must stay open until then)."""
        self._stop.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(wait_s)
        return not self._thread.is_alive()
