"""Tests of the chat example."""
