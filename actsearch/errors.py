"""Errors the user can fix. The CLI prints them as one line and exits with status 2."""


class UserError(Exception):
    """Bad input (config, data path, CLI arguments): reported without a traceback."""
