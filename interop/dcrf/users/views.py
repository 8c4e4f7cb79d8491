"""Out-of-band admin HTTP API (same Daphne port as the WebSockets).

The Rust reference server implements this exact API too, POST /admin/steps
included (reference-server/src/steps.rs; PROFILE-NOTES.md section 9):

  GET    /healthz                 -> 200 text/plain "ok"
  POST   /admin/users             body {"username": str, "email": str, "password"?: str}
                                  -> 201 serialized user (no password)
  GET    /admin/users/<pk>        -> 200 serialized user
  PATCH  /admin/users/<pk>        body object with any of "username"/"email"
                                  -> 200 serialized user (always calls .save(),
                                     even for {}, so observers fire; 404 if the
                                     row vanished before the save)
  DELETE /admin/users/<pk>        -> 204 empty body
  unknown / non-integer pk        -> 404 {"error": "..."}
  bad JSON / bad body             -> 400 {"error": "..."}  (checked after the pk lookup)
  other method                    -> 405 {"error": "..."}
  POST   /admin/steps             body {"atomic": bool, "rollback"?: bool, "steps": [...]}
                                  -> 200 {"results": [...]} ; runs ORM steps in one
                                     request, inside one transaction.atomic() when
                                     "atomic" is true (see steps() below)

Every change goes through the ORM (.save() / .delete()) in autocommit mode, so
DCRF's model observers fire (post_save / post_delete -> on_commit -> group_send).
"""
import json

from django.contrib.auth.models import User
from django.db import DatabaseError, IntegrityError, transaction
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .serializers import UserSerializer

ALLOWED_CREATE = {"username", "email", "password"}
ALLOWED_PATCH = {"username", "email"}


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def _user_json(user, status=200):
    return JsonResponse(dict(UserSerializer(user).data), status=status)


class BadBody(Exception):
    pass


def _parse_body(request, allowed):
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BadBody("invalid JSON body")
    if not isinstance(body, dict):
        raise BadBody("body must be a JSON object")
    for key in body:
        if key not in allowed:
            raise BadBody(f"unknown field: {key}")
    for key in ("username", "email", "password"):
        if key in body and not isinstance(body[key], str):
            raise BadBody(f"{key} must be a string")
    if "username" in body and not body["username"]:
        raise BadBody("username must not be empty")
    return body


def _username_taken(username, exclude_pk=None):
    qs = User.objects.filter(username=username)
    if exclude_pk is not None:
        qs = qs.exclude(pk=exclude_pk)
    return qs.exists()


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def users_collection(request):
    if request.method != "POST":
        return _error(405, "method not allowed")
    try:
        body = _parse_body(request, ALLOWED_CREATE)
        if "username" not in body:
            raise BadBody("username is required")
        if "email" not in body:
            raise BadBody("email is required")
    except BadBody as exc:
        return _error(400, str(exc))
    if _username_taken(body["username"]):
        return _error(400, "username already exists")
    user = User(username=body["username"], email=body["email"])
    if "password" in body:
        user.set_password(body["password"])
    else:
        user.set_unusable_password()
    try:
        user.save()
    except IntegrityError:
        return _error(400, "username already exists")
    return _user_json(user, status=201)


@csrf_exempt
def user_detail(request, pk):
    if request.method not in ("GET", "PATCH", "DELETE"):
        return _error(405, "method not allowed")
    try:
        pk_int = int(pk)
        if str(pk_int) != pk:
            raise ValueError
        user = User.objects.get(pk=pk_int)
    except (ValueError, User.DoesNotExist):
        return _error(404, f"user {pk} not found")

    if request.method == "GET":
        return _user_json(user)

    if request.method == "DELETE":
        user.delete()
        return HttpResponse(status=204)

    # PATCH
    try:
        body = _parse_body(request, ALLOWED_PATCH)
    except BadBody as exc:
        return _error(400, str(exc))
    if "username" in body and _username_taken(body["username"], exclude_pk=user.pk):
        return _error(400, "username already exists")
    for key in ("username", "email"):
        if key in body:
            setattr(user, key, body[key])
    try:
        # force_update: if a concurrent DELETE removed the row after our
        # lookup, a plain save() would silently re-INSERT it (Django falls
        # back to INSERT when the UPDATE matches no row) and DCRF would emit a
        # "create" event.  Observed with concurrent PATCH+DELETE; answer 404.
        user.save(force_update=True)
    except IntegrityError:
        return _error(400, "username already exists")
    except DatabaseError:
        return _error(404, f"user {pk} not found")
    return _user_json(user)


class Rollback(Exception):
    pass


STEP_FIELDS = {"username", "email"}


def _run_step(step, objs):
    """One ORM step on named Python objects (objs: name -> User instance)."""
    op = step.get("op")
    if op == "fetch":  # a new Python object for an existing row
        objs[step["as"]] = User.objects.get(pk=int(step["pk"]))
        return {"op": op, "as": step["as"]}
    if op == "insert":  # a new row with an explicit pk (a re-creation)
        user = User(pk=int(step["pk"]), **step.get("set", {}))
        user.set_unusable_password()
        user.save(force_insert=True)
        objs[step.get("as", "_inserted")] = user
        return {"op": op, "pk": user.pk}
    obj = objs[step["obj"]]
    if op == "save":  # plain save(): Django re-INSERTs when the row is gone
        for key, value in step.get("set", {}).items():
            setattr(obj, key, value)
        obj.save()
        return {"op": op, "obj": step["obj"], "pk": obj.pk}
    if op == "delete":
        pk = obj.pk
        obj.delete()
        return {"op": op, "obj": step["obj"], "pk": pk}
    raise BadBody(f"unknown op: {op!r}")


def _check_steps(body):
    if not isinstance(body, dict) or not isinstance(body.get("steps"), list):
        raise BadBody('body must be {"atomic": bool, "steps": [...]}')
    for step in body["steps"]:
        if not isinstance(step, dict) or step.get("op") not in ("fetch", "insert", "save", "delete"):
            raise BadBody(f"bad step: {step!r}")
        for key in step.get("set", {}):
            if key not in STEP_FIELDS:
                raise BadBody(f"unknown field: {key}")


@csrf_exempt
def steps(request):
    """Run several ORM operations in one request, optionally in one transaction.

    Body: {"atomic": true, "rollback": false, "steps": [STEP, ...]} with STEP one of
      {"op": "fetch", "as": NAME, "pk": N}      NAME = User.objects.get(pk=N) (a new Python object)
      {"op": "save", "obj": NAME, "set": {...}} set username/email on NAME, then NAME.save()
      {"op": "delete", "obj": NAME}             NAME.delete()
      {"op": "insert", "pk": N, "set": {...}}   User(pk=N, ...).save(force_insert=True)
    "atomic": true wraps every step in one transaction.atomic(), so DCRF's
    observers send their messages at the commit; "rollback": true then rolls it
    back.  With "atomic": false each step commits on its own (autocommit).
    Answers 200 {"results": [...], "committed": bool}; 400 on a bad body or a
    failing step (nothing of an atomic run is kept then).
    """
    if request.method != "POST":
        return _error(405, "method not allowed")
    try:
        body = json.loads(request.body.decode("utf-8"))
        _check_steps(body)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "invalid JSON body")
    except BadBody as exc:
        return _error(400, str(exc))
    objs, results = {}, []
    try:
        if body.get("atomic", True):
            try:
                with transaction.atomic():
                    for step in body["steps"]:
                        results.append(_run_step(step, objs))
                    if body.get("rollback"):
                        raise Rollback()
            except Rollback:
                return JsonResponse({"results": results, "committed": False})
        else:
            for step in body["steps"]:
                results.append(_run_step(step, objs))
    except (KeyError, ValueError, TypeError, User.DoesNotExist, DatabaseError, BadBody) as exc:
        return _error(400, f"step {len(results)} failed: {type(exc).__name__}: {exc}")
    return JsonResponse({"results": results, "committed": True})


def not_found(request, exception=None):
    return _error(404, "not found")


def server_error(request):
    return _error(500, "internal server error")
