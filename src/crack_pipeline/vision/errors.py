"""The one base class of every error caused by what the user gave — a path, a setting, a file — rather than
by a bug: its message names the thing and says what to do, and the command line shows just that message."""


class InputError(ValueError):
    """A problem with the user's input; the message names it and says how to put it right."""
