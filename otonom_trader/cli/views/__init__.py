"""Console rendering of use-case results (rich tables, text)."""
