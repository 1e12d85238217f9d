"""Units: the administrative tree (province → optional district → commune/ward → hamlet).

The tree is data, not code: Vietnam went two-tier in 2025 and may change again. Each unit
keeps a materialised ``path`` of its ancestors' ids ("/12/345/") so that "everything under a
supervisor's unit" is one indexed prefix query; ``name_folded`` is the name with case,
diacritics and apostrophes folded away, for the typo- and accent-tolerant search.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model


class UnitLevel(StrEnum):
    PROVINCE = "province"
    DISTRICT = "district"
    COMMUNE = "commune"
    HAMLET = "hamlet"


class Unit(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, null=True, unique=True)
    level = fields.CharEnumField(UnitLevel, max_length=16)
    kind = fields.CharField(max_length=32)
    name = fields.CharField(max_length=200)
    name_folded = fields.CharField(max_length=200)
    parent: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "communepol.Unit", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    path = fields.CharField(max_length=255, default="/")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "unit"
        indexes = (
            Index(fields=("path",), name="unit_path_idx"),
            Index(fields=("level", "name_folded"), name="unit_level_name_idx"),
        )

    def __str__(self) -> str:
        return self.name
