"""HyperHub layer."""
