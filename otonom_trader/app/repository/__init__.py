"""The repository's own files: where they are, and the editors of strategy files, the
STRATEGY_LOG.md and deployments/production.yaml (shared by promotion and production)."""
