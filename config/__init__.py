"""Settings model, loader, and the shipped example configuration."""
