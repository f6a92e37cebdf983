"""``tzoo serve``: run the app under uvicorn.

Names, NTP checkpoint directories and the device are checked before uvicorn starts, so a typo ends the command
with a one-line error instead of a service that never gets ready. On SIGTERM uvicorn
stops accepting connections and lets in-flight requests finish (up to the request
timeout) before the lifespan drains the queues.
"""

from __future__ import annotations

import os

import uvicorn

from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.models import model_names
from tokenizers_zoo.service.pool import served_names
from tokenizers_zoo.service.settings import ServiceSettings
from tokenizers_zoo.tokenizer import check_device


def serve(settings: ServiceSettings, log_level: str = "info") -> None:
    served_names(settings)
    model_names(settings)
    check_device(settings.device)
    options = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "timeout_graceful_shutdown": max(1, int(settings.request_timeout_s)),
    }
    if settings.workers == 1:
        uvicorn.run(create_app(settings), **options)
        return
    # Worker processes import the app themselves; they read the settings from the environment.
    os.environ.update(settings.to_env())
    uvicorn.run("tokenizers_zoo.service.app:app_from_env", factory=True, workers=settings.workers, **options)
