"""Nightly processing: every active audience evaluated in one pass per day over one data
snapshot; memberships, member changes, composition, size history."""
