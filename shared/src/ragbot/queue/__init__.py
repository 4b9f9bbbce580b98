"""The queue between the services (DESIGN §5): names, the Celery app, per-process resources, and the core tasks."""

from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.names import ChatPlatform, Queue, TaskName

__all__ = ["ChatPlatform", "Queue", "TaskName", "create_celery_app"]
