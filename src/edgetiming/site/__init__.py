"""Turning results, guides and case studies into pages, and running mkdocs build --strict. The only layer that knows MkDocs."""
