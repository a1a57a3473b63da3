"""erlen's comparison harness: ``python -m benchmarks.run`` (``make bench``)."""
