"""The jobs that wire the stages: detect (one video, many inputs, workers, Ray), annotate, stability."""
