"""Change or delete a user.

  python manage.py user_change <pk> [--username X] [--email Y] [--delete]
                               [--server http://127.0.0.1:8000]

With --server the change goes through the running server's admin HTTP API
(which does the ORM .save()/.delete() inside the server process).  Without it
the ORM change runs in this process: observers fire here, but with the
InMemoryChannelLayer the events never reach the server's WebSocket
subscribers (the layer is per process).
"""
import json
import urllib.error
import urllib.request

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("pk", type=int)
        parser.add_argument("--username")
        parser.add_argument("--email")
        parser.add_argument("--delete", action="store_true")
        parser.add_argument("--server", help="base URL of a running serve.sh")

    def handle(self, pk, username, email, delete, server, **options):
        if server:
            return self._via_http(server.rstrip("/"), pk, username, email, delete)
        try:
            user = User.objects.get(pk=pk)
        except User.DoesNotExist:
            raise CommandError(f"user {pk} not found")
        if delete:
            user.delete()
            self.stdout.write(f"deleted {pk}")
            return
        if username is not None:
            user.username = username
        if email is not None:
            user.email = email
        user.save()
        self.stdout.write(json.dumps({"id": user.pk, "username": user.username, "email": user.email}))

    def _via_http(self, server, pk, username, email, delete):
        url = f"{server}/admin/users/{pk}"
        if delete:
            req = urllib.request.Request(url, method="DELETE")
        else:
            body = {}
            if username is not None:
                body["username"] = username
            if email is not None:
                body["email"] = email
            req = urllib.request.Request(
                url,
                data=json.dumps(body).encode(),
                method="PATCH",
                headers={"Content-Type": "application/json"},
            )
        try:
            with urllib.request.urlopen(req) as resp:
                self.stdout.write(f"{resp.status} {resp.read().decode()}")
        except urllib.error.HTTPError as exc:
            raise CommandError(f"{exc.code} {exc.read().decode()}")
