"""ASGI entry point: Django for HTTP, DCRF consumers for WebSockets.

WebSocket stack, outside in:
  AllowedHostsOriginValidator  refuses the handshake (HTTP 403) when the Origin
                               header is missing or its host is not in
                               ALLOWED_HOSTS
  TokenAuthMiddleware          scope["user"] from `?token=...` or
                               `Authorization: Bearer ...` (AnonymousUser
                               otherwise: the handshake still succeeds and
                               DCRF's IsAuthenticated answers 403 to actions)
  URLRouter                    /api/live/products/ and /api/live/products/crud/
"""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shopsite.settings")

from django.core.asgi import get_asgi_application  # noqa: E402

django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from products.auth import TokenAuthMiddleware  # noqa: E402
from products.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            TokenAuthMiddleware(URLRouter(websocket_urlpatterns))
        ),
    }
)
