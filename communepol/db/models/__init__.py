"""The whole domain's data model, one module per aggregate (see DESIGN.md §2).

Tortoise discovers the models from this package: every model is re-exported here. The app
label is ``communepol``; relations are written ``"communepol.<Model>"``.

A model's class docstring becomes its table comment. Tortoise's SQLite schema editor splits
statements on semicolons and does not escape quotes in comments, so class docstrings avoid
``;`` and apostrophes (the migration test fails on SQLite if one slips in).
"""

from communepol.db.models.alerts import Alert, AlertMessageType, AlertStatus, AlertTarget
from communepol.db.models.audit import AuditEvent
from communepol.db.models.channels import (
    ChannelAccount,
    ChannelKind,
    ChannelStatus,
    PageChannel,
    ReceiveMode,
)
from communepol.db.models.contacts import (
    ConsentPurpose,
    ConsentRecord,
    Contact,
    ContactKind,
    ConversationState,
    Reachability,
)
from communepol.db.models.duty import DutyShift
from communepol.db.models.follows import Follow, FollowStatus
from communepol.db.models.groups import CommunityGroup, GroupKind, GroupMessage, ModerationStatus
from communepol.db.models.households import (
    Household,
    HouseholdGroup,
    HouseholdGroupMember,
    HouseholdRelayConfirmation,
)
from communepol.db.models.inbox import InboundEvent, InboundStatus
from communepol.db.models.leases import Lease
from communepol.db.models.linkcodes import LinkCode, LinkPurpose
from communepol.db.models.outbox import (
    PRIORITY_OF_KIND,
    Delivery,
    DeliveryKind,
    DeliveryStatus,
    Priority,
)
from communepol.db.models.pages import Page
from communepol.db.models.posts import (
    AttachmentKind,
    Post,
    PostAttachment,
    PostCategory,
    PostStatus,
    PostTranslation,
    Publication,
    PublicationStatus,
    ScheduleKind,
)
from communepol.db.models.sessions import WebSession
from communepol.db.models.staff import ApiToken, Role, Staff, StaffIdentity
from communepol.db.models.tips import (
    OPEN_TIP_STATUSES,
    AttachmentStatus,
    RoutingRule,
    RumourCluster,
    RumourVerdict,
    SlaPolicy,
    Tip,
    TipAttachment,
    TipCategory,
    TipEvent,
    TipMessage,
    TipMessageDirection,
    TipRoute,
    TipStatus,
    Urgency,
)
from communepol.db.models.units import Unit, UnitLevel
from communepol.db.models.vault import AliasVaultEntry, RevealRequest

__all__ = [
    "OPEN_TIP_STATUSES",
    "PRIORITY_OF_KIND",
    "Alert",
    "AlertMessageType",
    "AlertStatus",
    "AlertTarget",
    "AliasVaultEntry",
    "ApiToken",
    "AttachmentKind",
    "AttachmentStatus",
    "AuditEvent",
    "ChannelAccount",
    "ChannelKind",
    "ChannelStatus",
    "CommunityGroup",
    "ConsentPurpose",
    "ConsentRecord",
    "Contact",
    "ContactKind",
    "ConversationState",
    "Delivery",
    "DeliveryKind",
    "DeliveryStatus",
    "DutyShift",
    "Follow",
    "FollowStatus",
    "GroupKind",
    "GroupMessage",
    "Household",
    "HouseholdGroup",
    "HouseholdGroupMember",
    "HouseholdRelayConfirmation",
    "InboundEvent",
    "InboundStatus",
    "Lease",
    "LinkCode",
    "LinkPurpose",
    "ModerationStatus",
    "Page",
    "PageChannel",
    "Post",
    "PostAttachment",
    "PostCategory",
    "PostStatus",
    "PostTranslation",
    "Priority",
    "Publication",
    "PublicationStatus",
    "Reachability",
    "ReceiveMode",
    "RevealRequest",
    "Role",
    "RoutingRule",
    "RumourCluster",
    "RumourVerdict",
    "ScheduleKind",
    "SlaPolicy",
    "Staff",
    "StaffIdentity",
    "Tip",
    "TipAttachment",
    "TipCategory",
    "TipEvent",
    "TipMessage",
    "TipMessageDirection",
    "TipRoute",
    "TipStatus",
    "Unit",
    "UnitLevel",
    "Urgency",
    "WebSession",
]
