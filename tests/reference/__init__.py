"""The seeds' straightforward implementations, kept as oracles and baselines."""
