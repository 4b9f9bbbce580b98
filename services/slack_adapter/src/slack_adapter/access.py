"""Whose permissions a Slack question is searched with.

    direct message         the asker's principals (email from users.info → the principals directory)
    public channel         everyone's ("*"): anyone in the workspace can read the channel, so only public documents
    private channel, group DM
                           what every member may read: the intersection of the members' principals, or only public
                           documents when the channel has more than `private_channel_max_members` members
    configured channel     `RAGBOT_SLACK__CHANNEL_PRINCIPALS` wins over all of the above

Lookups are cached in Redis for a few minutes, so a busy channel does not call users.info for every question.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from ragbot.access.directory import PrincipalsDirectory
from ragbot.models import EVERYONE
from ragbot.ports import LookupCache
from ragbot.settings import SlackSettings

__all__ = ["ChannelKind", "SlackAccess"]

ChannelKind = str  # "im" | "channel" | "group" | "mpim"
_CACHE_S = 300


class SlackAccess:
    """Resolves principals for a question in a channel.

    Args:
        client: The adapter's Web API client.
        cache: Where lookups are kept for a few minutes (shared by every replica).
        directory: Groups by email; without one, a person's principals are `*` and `user:<email>`.
        settings: Channel overrides and the member cap.
    """

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        cache: LookupCache,
        directory: PrincipalsDirectory | None,
        settings: SlackSettings,
    ) -> None:
        self._client = client
        self._cache = cache
        self._directory = directory
        self._settings = settings

    async def channel_kind(self, channel: str, *, hint: str | None = None) -> ChannelKind:
        """ "im", "channel" (public), "group" (private) or "mpim"; `hint` is the event's own channel_type."""
        if hint in ("im", "channel", "group", "mpim"):
            return hint
        cached = await self._cache.cached(f"slack:kind:{channel}")
        if cached:
            return cached
        info: Any = (await self._client.conversations_info(channel=channel))["channel"]
        kind = (
            "im"
            if info.get("is_im")
            else "mpim"
            if info.get("is_mpim")
            else "group"
            if info.get("is_private") or info.get("is_group")
            else "channel"
        )
        await self._cache.cache(f"slack:kind:{channel}", kind, ttl_s=_CACHE_S)
        return kind

    async def principals(self, *, channel: str, kind: ChannelKind, user: str) -> tuple[str, ...]:
        override = self._settings.channel_principals.get(channel)
        if override:
            return tuple(dict.fromkeys((*override, EVERYONE)))
        if kind == "im":
            return await self.user_principals(user)
        if kind == "channel":
            return (EVERYONE,)
        members = await self._members(channel)
        if members is None or not members:
            return (EVERYONE,)
        common: set[str] | None = None
        for member in members:
            found = set(await self.user_principals(member, skip_bots=True))
            if not found:
                continue  # a bot member does not narrow what people may read
            common = found if common is None else common & found
        return tuple(sorted((common or set()) | {EVERYONE}, key=lambda p: (p != EVERYONE, p)))

    async def user_principals(self, user: str, *, skip_bots: bool = False) -> tuple[str, ...]:
        """`*`, `user:<email>` and the directory's groups for a Slack user; () for a bot when `skip_bots`."""
        key = f"slack:principals:{user}"
        cached = await self._cache.cached(key)
        if cached is not None:
            found = tuple(json.loads(cached))
        else:
            info: Any = (await self._client.users_info(user=user))["user"]
            email = "" if info.get("is_bot") else str((info.get("profile") or {}).get("email") or "")
            found = () if info.get("is_bot") else self._for_email(email)
            await self._cache.cache(key, json.dumps(found), ttl_s=_CACHE_S)
        if not found and not skip_bots:
            return (EVERYONE,)
        return found

    def _for_email(self, email: str) -> tuple[str, ...]:
        if not email:
            return (EVERYONE,)
        if self._directory is not None:
            return tuple(self._directory.principals_for(email))
        return (EVERYONE, f"user:{email.lower()}")

    async def _members(self, channel: str) -> Sequence[str] | None:
        """Members of a channel, or None when there are more than the cap."""
        cap = self._settings.private_channel_max_members
        members: list[str] = []
        cursor = None
        while True:
            page: Any = await self._client.conversations_members(channel=channel, limit=200, cursor=cursor)
            members.extend(page.get("members") or [])
            if len(members) > cap:
                return None
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return members
