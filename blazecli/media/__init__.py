"""Decode -> sample: opening media, how frames are shown, reading and writing video, and
sampling frames down to the model input."""
