"""The machine a measurement runs on: its fingerprint and what it did while measuring (CPU, memory, throttling, energy)."""
