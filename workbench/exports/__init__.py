"""Exports: configurations, schedules, file names, runs (SPEC 7)."""
