"""The rules: the cited rule library, the engine that applies it, and the decision log."""
