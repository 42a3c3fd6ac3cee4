"""Reads of a user's tasks from streaming replicas, never staler than the
user's own last write. See replicas/router.py and docs/scaling.md."""
