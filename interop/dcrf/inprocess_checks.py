#!/usr/bin/env python
"""In-process checks of DCRF 1.3.0 behaviour that the admin HTTP API cannot trigger.

    .venv/bin/python inprocess_checks.py > observed/inprocess.txt

Uses channels.testing.WebsocketCommunicator against the project's consumers
(no daphne, no socket) on a throw-away SQLite DB.  Covers: transactions
(several saves in one atomic block, rollback, save+delete), pk reuse after a
delete ("create" events), QuerySet.update() (no signals), group names, and a
consumer with lookup_field="username".  Frames are printed exactly as the
consumer sent them (same json.dumps text daphne would put on the wire).
"""
import asyncio
import hashlib
import os
import sys
import tempfile
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
DB = os.path.join(tempfile.mkdtemp(prefix="dcrf-inprocess-"), "db.sqlite3")
os.environ["DCRF_DB"] = DB
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dcrfsite.settings")

import django  # noqa: E402

django.setup()

from channels.db import database_sync_to_async  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from djangochannelsrestframework.generics import GenericAsyncAPIConsumer  # noqa: E402
from djangochannelsrestframework.observer.generics import ObserverModelInstanceMixin  # noqa: E402

from users.consumers import FullUserConsumer, UserConsumer  # noqa: E402
from users.serializers import UserSerializer  # noqa: E402

warnings.simplefilter("always")


class ByUsernameConsumer(ObserverModelInstanceMixin, GenericAsyncAPIConsumer):
    queryset = User.objects.all()
    serializer_class = UserSerializer
    lookup_field = "username"


def out(line=""):
    print(line, flush=True)


async def drain(c, label):
    frames = []
    while not await c.receive_nothing(0.7):
        frames.append(await c.receive_from())
    out(f"--- {label}: {len(frames)} frame(s)")
    for f in frames:
        out(f"    {f}")


def show_warnings(w):
    """One UnsupportedWarning per ModelObserver connected to User (3 here:
    UserConsumer, FullUserConsumer, ByUsernameConsumer)."""
    for item in w:
        out(f"    (warning during that block: {item.category.__name__}: {item.message})")


def run_sync(fn):
    return database_sync_to_async(fn)()


async def transactions():
    out("## transactions and signals (UserConsumer, subscribed rid 10 -> pk 1, 20 -> pk 2, 30 -> pk 3)")
    c = WebsocketCommunicator(UserConsumer.as_asgi(), "/ws/")
    await c.connect()
    for pk in (1, 2, 3):
        await c.send_json_to({"action": "subscribe_instance", "request_id": 10 * pk, "pk": pk})
        await c.receive_from()

    def same_obj_three_saves():
        with transaction.atomic():
            x = User.objects.get(pk=1)
            for n in range(3):
                x.email = f"s{n}@example.com"
                x.save()

    await run_sync(same_obj_three_saves)
    await drain(c, "atomic: one Python object for pk 1 saved 3 times")

    def two_objs():
        with transaction.atomic():
            a = User.objects.get(pk=1)
            a.email = "a@example.com"
            a.save()
            b = User.objects.get(pk=1)
            b.email = "b@example.com"
            b.save()

    await run_sync(two_objs)
    await drain(c, "atomic: two Python objects for pk 1, each saved once")

    def rollback():
        try:
            with transaction.atomic():
                a = User.objects.get(pk=1)
                a.email = "rb@example.com"
                a.save()
                raise RuntimeError("rollback")
        except RuntimeError:
            pass

    await run_sync(rollback)
    await drain(c, "atomic: save of pk 1 then rollback")

    def save_then_delete_same_obj():
        with warnings.catch_warnings(record=True) as w:
            with transaction.atomic():
                a = User.objects.get(pk=2)
                a.email = "x@example.com"
                a.save()
                a.delete()
        return w

    w = await run_sync(save_then_delete_same_obj)
    await drain(c, "atomic: one object for pk 2 saved then deleted")
    show_warnings(w)

    def save_then_delete_other_obj():
        with warnings.catch_warnings(record=True) as w:
            with transaction.atomic():
                a = User.objects.get(pk=3)
                a.email = "y@example.com"
                a.save()
                b = User.objects.get(pk=3)
                b.delete()
        return w

    w = await run_sync(save_then_delete_other_obj)
    await drain(c, "atomic: object A for pk 3 saved, object B for pk 3 deleted")
    show_warnings(w)

    await run_sync(lambda: User.objects.create(pk=3, username="reborn", email="r@example.com"))
    await drain(c, "autocommit: new row created with explicit pk=3 after pk 3 was deleted (rid 30 never unsubscribed)")

    await run_sync(lambda: User.objects.filter(pk=1).update(email="bulk@example.com"))
    await drain(c, "QuerySet.update() on pk 1 (sends no post_save)")

    def autocommit_two_saves():
        x = User.objects.get(pk=1)
        x.email = "t1@example.com"
        x.save()
        x.email = "t2@example.com"
        x.save()

    await run_sync(autocommit_two_saves)
    await drain(c, "autocommit: one object for pk 1 saved twice")
    await c.disconnect()


def group_names():
    out("## group names (ObserverModelInstanceMixin.handle_instance_change)")
    u = User.objects.get(pk=1)
    for cls in (UserConsumer, FullUserConsumer, ByUsernameConsumer):
        obs = cls.handle_instance_change
        pre = f"{obs._stable_observer_id}-handle.instance.change-model-auth.user-pk-{u.pk}"
        got = list(obs.group_names_for_signal(instance=u))
        out(f"    {cls.__name__}: pre-image {pre!r}")
        out(f"        -> {got}  (sha256 check: {got == ['DCRF-' + hashlib.sha256(pre.encode()).hexdigest()]})")


async def lookup_field():
    out("## lookup_field = 'username' (ByUsernameConsumer, defined in this script; user pk 1 is 'test 1')")
    c = WebsocketCommunicator(ByUsernameConsumer.as_asgi(), "/ws/")
    await c.connect()
    await c.send_json_to({"action": "retrieve", "request_id": 1, "username": "test 1"})
    out(f"    retrieve by username -> {await c.receive_from()}")
    await c.send_json_to({"action": "retrieve", "request_id": 2, "pk": 1})
    try:
        resp = await c.receive_output(2)
        out(f"    retrieve by pk -> {resp}")
    except BaseException as exc:  # noqa: BLE001
        out(f"    retrieve by pk -> consumer raised {type(exc).__name__}: {str(exc)[:120]}")
    c = WebsocketCommunicator(ByUsernameConsumer.as_asgi(), "/ws/")
    await c.connect()
    await c.send_json_to({"action": "subscribe_instance", "request_id": 3, "username": "test 1"})
    out(f"    subscribe_instance by username -> {await c.receive_from()}")

    def change():
        x = User.objects.get(username="test 1")
        x.email = "changed@example.com"
        x.save()

    await run_sync(change)
    try:
        resp = await c.receive_output(2)
        out(f"    event after save -> {resp}")
    except BaseException as exc:  # noqa: BLE001
        out(f"    event after save -> consumer raised {type(exc).__name__}: {str(exc)[:160]}")


async def main():
    await transactions()
    await database_sync_to_async(group_names)()
    await lookup_field()


if __name__ == "__main__":
    call_command("migrate", verbosity=0)
    call_command("seed_users")
    asyncio.run(main())
