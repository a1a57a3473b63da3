"""Example applications built with erlen (the blog is the flagship)."""
