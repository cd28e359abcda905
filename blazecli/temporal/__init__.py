"""Track and smooth over time, and the jitter metric that measures how steady faces are."""
