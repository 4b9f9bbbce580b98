"""Celery tasks of the core hops: each is the decorator plus one call into `ragbot.flow`.

Modules, by queue: `retrieve` (ragbot.queue.tasks.retrieve), `generate` (…generate), `feedback` (…feedback).
The reply tasks live with their adapters (slack_adapter.reply, teams_adapter.reply).
"""
