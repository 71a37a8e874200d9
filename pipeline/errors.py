"""The one error family whose messages tell the user what to do."""


class GenrecError(Exception):
    """A failure with a one-sentence message saying what went wrong and how to fix it."""


class StageError(GenrecError, RuntimeError):
    """A stage cannot go on; its message says what to do."""


class ModelError(GenrecError):
    """A model that cannot be searched, loaded or trusted."""
