"""Pages: a unit's information page. Followers and posts hang off it; it is reached through
its channel accounts (`channels.PageChannel`) and at a public web address (``slug``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from communepol.db.models.units import Unit


class Page(Model):
    id = fields.IntField(primary_key=True)
    unit: fields.ForeignKeyRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="pages", on_delete=fields.RESTRICT
    )
    slug = fields.CharField(max_length=100, unique=True)
    title = fields.CharField(max_length=200)
    description = fields.TextField(default="")
    default_locale = fields.CharField(max_length=8, default="vi")
    # Post categories that need a supervisor's approval before they are scheduled.
    approval_categories: list[str] = fields.JSONField(default=list)
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "page"

    def __str__(self) -> str:
        return self.title
