"""Contributed case studies: their schema, strict loading, sanitising and their pages."""
