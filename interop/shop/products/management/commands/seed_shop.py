"""Seed the API user, its token and three products with fixed UUIDs (idempotent).

  SHOP_TOKEN  the token key (default "shop-dev-token")
"""
import os
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

from products.models import ApiToken, Product

DEFAULT_TOKEN = "shop-dev-token"
API_USERNAME = "shop-api"

SEED = [
    ("00000000-0000-4000-8000-000000000001", "Ethiopia Yirgacheffe 250 g", "12.50", True, "beans"),
    ("00000000-0000-4000-8000-000000000002", "Hand grinder", "89.00", True, "equipment"),
    ("00000000-0000-4000-8000-000000000003", "Paper filters x100", "4.20", False, "accessories"),
]


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, **options):
        key = os.environ.get("SHOP_TOKEN") or DEFAULT_TOKEN
        user, _ = User.objects.get_or_create(username=API_USERNAME)
        user.set_unusable_password()
        user.is_active = True
        user.save()
        ApiToken.objects.exclude(key=key).filter(user=user).delete()
        ApiToken.objects.update_or_create(key=key, defaults={"user": user})
        for pk, name, price, in_stock, category in SEED:
            Product.objects.update_or_create(
                pk=pk,
                defaults={
                    "name": name,
                    "price": Decimal(price),
                    "in_stock": in_stock,
                    "category": category,
                },
            )
        self.stderr.write(
            f"seeded user {API_USERNAME} with its token and products {[pk for pk, *_ in SEED]}"
        )
