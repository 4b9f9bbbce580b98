"""The Microsoft Teams adapter: `ragbot serve teams` (Bot Framework /api/messages) and the `reply.teams` hop.

Built on botbuilder-core's `CloudAdapter`. The SDK is archived upstream, so every botbuilder/botframework import stays
inside this package and the rest of ragbot never sees an SDK type:

    config     TeamsSettings → the attribute object botbuilder reads its endpoints and credentials from
    translate  Teams text ⇄ question text; Answer → message activity (citations, AI label, feedback loop) or card
    receive    the bot: dedupe, filter, rate limit, typing indicator, principals, enqueue; feedback invokes
    server     aiohttp: POST /api/messages (authentication failures are 401), /healthz, /readyz, /metrics
    reply      tasks `ragbot.reply.teams` and `ragbot.apologize.teams`: proactive messages from the stored reference
    answers    answer activity id → question id in Redis, so a 👍/👎 on an answer finds its question
"""
