"""The registry: organisations, the accelerator catalog, AI models and computing clusters."""
