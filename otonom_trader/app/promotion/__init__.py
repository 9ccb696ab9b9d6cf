"""Use cases of promotion: the best run to a strategy file and a pull request."""
