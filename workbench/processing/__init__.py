"""Nightly processing: every active audience evaluated in one pass per day over one data
snapshot; memberships, member changes, composition, size history."""

# Days in one processing run: ten years is a backfill; more is a typing error. Here, not in
# run.py, so that `audience list` can say it without importing the query side.
MAX_DAYS = 3660
