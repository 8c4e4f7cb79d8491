"""A small DRF REST API over Product: what drf-spectacular describes (openapi.json)."""
from rest_framework import viewsets

from .models import Product
from .serializers import ProductSerializer


class ProductViewSet(viewsets.ModelViewSet):
    queryset = Product.objects.all()
    serializer_class = ProductSerializer


# drf-spectacular: describe BearerTokenAuthentication as an HTTP bearer scheme.
from drf_spectacular.extensions import OpenApiAuthenticationExtension  # noqa: E402


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "products.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer"}
