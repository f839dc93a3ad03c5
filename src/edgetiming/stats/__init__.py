"""How far to trust a number: quantiles with exact intervals, validity, steady state, jitter and paired comparisons. Imports nothing else from edgetiming."""
