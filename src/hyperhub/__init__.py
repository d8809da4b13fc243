"""HyperHub: an open, local-first hub for a Human x Car x Home device ecosystem."""

__version__ = "0.1.0"
