"""Ctrl-C during training: the first stops at the next safe point and keeps the work, the second aborts.

This is what users of Keras's and Lightning's training loops expect: an interrupted run is
not lost. :class:`GracefulInterrupt` replaces the SIGINT handler for the duration of a
``with`` block (main thread only; elsewhere it does nothing and Python's default applies):

* the first SIGINT sets :attr:`GracefulInterrupt.requested` and says so on stderr; the
  training loop polls it (:func:`stop_callback` after every compiled step, the L-BFGS finish
  after every iteration) and ends as if it had run out of epochs, so early stopping restores
  the best weights and the run is evaluated and written as usual, marked interrupted;
* a second SIGINT raises ``KeyboardInterrupt`` at once: nothing more is written, and what
  kvt writes atomically (the run folder) is not left half-written. Python drops an exception
  raised while it runs a finaliser (TensorFlow's run during training), so the second SIGINT also
  sets :attr:`GracefulInterrupt.aborted`, which the same polls turn into ``KeyboardInterrupt``
  (:meth:`GracefulInterrupt.raise_if_aborted`): the abort cannot be lost.
"""

from __future__ import annotations

import signal
import sys
import threading


class GracefulInterrupt:
    """A SIGINT handler that turns the first Ctrl-C into a request and the second into ``KeyboardInterrupt``."""

    def __init__(self, message: str | None = None, stream=None):
        self.requested = False
        self.aborted = False
        self.message = message or ("Interrupted: stopping at the end of this step and writing the run with its best "
                                   "weights so far; press Ctrl-C again to abort without writing anything.")
        self.stream = stream
        self._previous = None
        self._installed = False

    def __call__(self) -> bool:
        """Whether an interrupt was requested (the poll a training loop makes)."""
        return self.requested

    def raise_if_aborted(self) -> None:
        """``KeyboardInterrupt`` if a second Ctrl-C came (also when its own was swallowed by a finaliser)."""
        if self.aborted:
            raise KeyboardInterrupt

    def _handle(self, signum, frame):
        if self.requested:
            self.aborted = True
            raise KeyboardInterrupt
        self.requested = True
        print(f"\n{self.message}", file=self.stream or sys.stderr, flush=True)

    def __enter__(self) -> "GracefulInterrupt":
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
            self._installed = True
        return self

    def __exit__(self, *exc) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, self._previous)
            self._installed = False


def stop_callback(stop_requested):
    """A Keras callback that ends ``fit`` after the compiled step during which ``stop_requested()`` became true.

    Keras then finishes the epoch's bookkeeping (validation, ``on_epoch_end``) and ``on_train_end``
    (early stopping restores the best weights), exactly as when epochs run out.
    """
    import keras

    class StopWhenRequested(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stopped_epoch = None
            self._epoch = 0

        def on_epoch_begin(self, epoch, logs=None):
            self._epoch = epoch

        def on_epoch_end(self, epoch, logs=None):
            _raise_if_aborted(stop_requested)

        def on_train_end(self, logs=None):
            _raise_if_aborted(stop_requested)

        def on_train_batch_end(self, batch, logs=None):
            _raise_if_aborted(stop_requested)
            if self.stopped_epoch is None and stop_requested():
                self.stopped_epoch = self._epoch
                self.model.stop_training = True

    return StopWhenRequested()


def _raise_if_aborted(stop_requested) -> None:
    """The abort poll of a ``stop_requested`` that can abort (a :class:`GracefulInterrupt`); a plain callable cannot."""
    check = getattr(stop_requested, "raise_if_aborted", None)
    if check is not None:
        check()
