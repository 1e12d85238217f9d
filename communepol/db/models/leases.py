"""Leases: which process owns a piece of work right now (a channel account's sending, a
leader-only job). A lease is taken or renewed by one conditional UPDATE and lapses by itself
when its holder dies."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Lease(Model):
    name = fields.CharField(max_length=100, primary_key=True)
    owner = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    renewed_at = fields.DatetimeField()

    class Meta:
        table = "lease"
