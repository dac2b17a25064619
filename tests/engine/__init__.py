"""Tests of the rules engine (rules/engine): pure Python, no database, no Django."""
