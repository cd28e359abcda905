"""Decode -> sample: opening media, how frames are shown, reading and writing video, sampling frames to the model input."""
