"""ASGI entry point: HTTP through Django, WebSockets through Channels (Daphne serves it)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportsite.settings")
django_asgi_app = get_asgi_application()

# Import consumers only after Django is set up.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from reports.live.auth import BearerTokenMiddleware  # noqa: E402
from reports.live.routing import websocket_urlpatterns  # noqa: E402
from reports.notify.dispatch import get_dispatcher  # noqa: E402
from reports.runtime.runners import get_runner  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session (cookie), or an API token offered as the subprotocols
        # ``bearer, <token>`` (reports.live.auth).
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(BearerTokenMiddleware(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Embedded mode: this process runs streams, so it also recovers them after a crash.
get_runner().start()
# ... and sends the webhook deliveries and e-mail notices left pending by the last run.
get_dispatcher().start()
