"""edgetiming."""
