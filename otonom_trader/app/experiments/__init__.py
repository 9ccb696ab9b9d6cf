"""Use cases of the research workflow: searches, analysis, outputs."""
