"""Offline stand-ins for the standard datasets and pretrained weights real programs download."""
