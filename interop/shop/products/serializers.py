from rest_framework import serializers

from .models import Product


class ProductSerializer(serializers.ModelSerializer):
    """A product of the shop as every API sends it: the DCRF consumers, the hook and the REST API.

    `price` is a decimal string with at most 6 digits before and 2 after the point;
    `secret_note` is accepted on writes and never sent back.
    """

    class Meta:
        model = Product
        fields = ["id", "name", "price", "in_stock", "category", "secret_note", "updated_at"]
        read_only_fields = ["id", "updated_at"]
        extra_kwargs = {"secret_note": {"write_only": True, "required": False}}
