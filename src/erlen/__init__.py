"""erlen: Flask's API at Falcon's speed."""

__version__ = "0.1.0"
