from django.contrib.auth.models import User
from django.core.management.base import BaseCommand

SEED = [
    (1, "test 1", "1@example.com"),
    (2, "test 2", "2@example.com"),
    (3, "test 3", "3@example.com"),
]


class Command(BaseCommand):
    help = "Create users pk 1..3 (idempotent). Later auto ids start after the max pk."

    def handle(self, *args, **options):
        for pk, username, email in SEED:
            user, _ = User.objects.get_or_create(pk=pk, defaults={"username": username})
            user.username = username
            user.email = email
            user.set_password("password")
            user.save()
        # auth_user.id is INTEGER PRIMARY KEY AUTOINCREMENT on SQLite: inserting
        # explicit ids bumps sqlite_sequence, so the next auto id is max(pk)+1.
        # Verify instead of trusting it.
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SELECT seq FROM sqlite_sequence WHERE name = 'auth_user'")
            row = cur.fetchone()
        seq = row[0] if row else 0
        max_pk = max(pk for pk, _, _ in SEED)
        if seq < max_pk:
            with connection.cursor() as cur:
                cur.execute(
                    "UPDATE sqlite_sequence SET seq = %s WHERE name = 'auth_user'", [max_pk]
                )
        self.stderr.write(f"seeded users {[pk for pk, _, _ in SEED]}")
