"""The queue between the services (DESIGN §5): names, the Celery app, the producer and the tasks.

The producer (`queue.producer`) is what adapters use; the tasks (`queue.tasks`) are what workers run. Both are
imported from their modules: a producer never loads the flow's collaborators.
"""

from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.names import Queue, TaskName

__all__ = ["Queue", "TaskName", "create_celery_app"]
