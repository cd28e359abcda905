"""Sink: row files, output paths and their checks, drawing on frames."""
