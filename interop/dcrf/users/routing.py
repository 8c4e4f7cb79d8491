from channelsmultiplexer import AsyncJsonWebsocketDemultiplexer
from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"^ws/$", consumers.UserConsumer.as_asgi()),
    re_path(r"^ws/full/$", consumers.FullUserConsumer.as_asgi()),
    re_path(
        r"^ws/multiplexed/$",
        AsyncJsonWebsocketDemultiplexer.as_asgi(users=consumers.FullUserConsumer.as_asgi()),
    ),
]
