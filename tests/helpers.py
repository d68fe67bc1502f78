"""Small bodies, scans and garments for fast tests."""

from __future__ import annotations
