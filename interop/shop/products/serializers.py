from rest_framework import serializers

from .models import Product


class ProductSerializer(serializers.ModelSerializer):
    """The one serializer of Product: DCRF consumers, the hook API and the REST API."""

    class Meta:
        model = Product
        fields = ["id", "name", "price", "in_stock", "category", "secret_note", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        extra_kwargs = {"secret_note": {"write_only": True, "required": False}}
