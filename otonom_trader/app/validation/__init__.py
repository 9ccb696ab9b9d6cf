"""The CI gate: re-run a changed strategy and check its evidence."""
