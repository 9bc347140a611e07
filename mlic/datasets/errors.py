"""The error every mlic dataset raises for data it cannot read as
configured (the message names the file, line or entry and the fix)."""


class DatasetError(ValueError):
    """Raised for a dataset that cannot be read as configured."""
