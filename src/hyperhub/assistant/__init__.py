"""The on-device assistant: sentences → plans of device actions or answers (design.md)."""
