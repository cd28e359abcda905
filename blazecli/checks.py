"""Checks of option values given to the library, in the parameter's own name.

The CLI parses its flags' types itself; a Python caller may pass anything, and a value of the
wrong type must not pass for another (``"no"`` taken as true, ``1.5`` faces, ``True`` as a
threshold of 1.0) nor fail later in words that do not name it.
"""

from __future__ import annotations

import numbers

import numpy as np

from .errors import InvalidOptionError


def whole_number(name: str, value: object, low: int, high: int | None = None, unit: str = "") -> int:
    """``value`` as an int within ``[low, high]`` (no upper bound without ``high``); a bool or a
    float is refused. ``unit``: what it counts, for the message (``" of frames"``)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, (bool, np.bool_)):
        raise InvalidOptionError(f"`{name}` must be a whole number{unit}, got {value!r}")
    number = int(value)  # a NumPy integer too
    if high is None and number < low:
        raise InvalidOptionError(f"`{name}` must be at least {low}, got {number}")
    if high is not None and not low <= number <= high:
        raise InvalidOptionError(f"`{name}` must be within {low} to {high}, got {number}")
    return number


def real_number(name: str, value: object) -> float:
    """``value`` as a float: any real number but a bool (ranges are the caller's)."""
    if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)):
        raise InvalidOptionError(f"`{name}` must be a number, got {value!r}")
    return float(value)


def switch(name: str, value: object) -> bool:
    """``value`` as a bool: only True or False (a text such as ``"no"`` is refused)."""
    if not isinstance(value, (bool, np.bool_)):
        raise InvalidOptionError(f"`{name}` must be True or False, got {value!r}")
    return bool(value)
