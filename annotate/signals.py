"""Signals annotate sends when data other apps summarise changes, so they can react without annotate
importing them (evaluate connects its receivers in evaluate/apps.py)."""

from __future__ import annotations

from django.dispatch import Signal

# Samples, translations or sessions were imported (not a dry run, not a failed attempt). Sent inside the
# import's transaction, so what a receiver writes commits or rolls back with the import.
# sender: the ImportKind value; keyword argument: source (the file name).
data_imported = Signal()

# A fix session was verified or reopened: its translation's FixCost and the verified counts change.
# sender: FixSession; keyword argument: session.
fix_session_changed = Signal()
