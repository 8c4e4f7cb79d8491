from django.urls import re_path

from . import consumers

websocket_urlpatterns = [
    re_path(r"^api/live/products/$", consumers.ProductConsumer.as_asgi()),
    re_path(r"^api/live/products/crud/$", consumers.ProductCrudConsumer.as_asgi()),
]
