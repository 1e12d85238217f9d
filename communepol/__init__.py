"""communepol: commune police information pages, groups, shared household accounts and tips."""

__version__ = "0.1.0"
