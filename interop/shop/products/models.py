import uuid

from django.conf import settings
from django.db import models


class Product(models.Model):
    """A product of the shop: a UUID key and non-string fields (decimal, boolean, timestamp)."""

    class Category(models.TextChoices):
        BEANS = "beans", "Beans"
        EQUIPMENT = "equipment", "Equipment"
        ACCESSORIES = "accessories", "Accessories"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, unique=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    in_stock = models.BooleanField(default=True)
    category = models.CharField(
        max_length=16, choices=Category.choices, default=Category.BEANS
    )
    # Written by clients, never sent back (write_only in ProductSerializer).
    secret_note = models.CharField(max_length=200, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ApiToken(models.Model):
    """A bearer token that authenticates one user (WebSocket, hook and REST API)."""

    key = models.CharField(max_length=128, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"token of {self.user}"
