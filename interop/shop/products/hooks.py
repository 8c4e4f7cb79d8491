"""The mutation hook of the conformance harness: a plain JSON API over Product.

Same Daphne port as the WebSockets; every /hook/ request needs
`Authorization: Bearer <SHOP_TOKEN>`.

  GET    /healthz                   -> 200 text/plain "ok" (no token)
  POST   /hook/products/            body: JSON object of writable fields
                                    -> 201 {"product": {...}}  (pk at /product/id)
  GET    /hook/products/<uuid>/     -> 200 {"product": {...}}
  PATCH  /hook/products/<uuid>/     body: JSON object, any writable fields
                                    -> 200 {"product": {...}}; always calls
                                       .save() (even for {}), so DCRF's observers
                                       fire
  DELETE /hook/products/<uuid>/     -> 204, empty body

Errors, always JSON {"error": "..."} (400 adds "fields": DRF's messages):
  401 missing/unknown token  404 unknown or malformed pk  405 other method
  415 body not sent as application/json  400 bad JSON, unknown or read-only
  field, invalid values (the serializer's exact messages), duplicate name.
Checked in this order: token, pk lookup, content type, body.

Every change goes through the ORM (.save() / .delete()) in autocommit mode, so
DCRF's model observers fire (post_save / post_delete -> on_commit -> group_send).
"""
import json
import uuid

from django.db import DatabaseError, IntegrityError
from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .auth import bearer_token, user_for_token
from .models import Product
from .serializers import ProductSerializer

WRITABLE = {"name", "price", "in_stock", "category", "secret_note"}
READ_ONLY = {"id", "updated_at"}


class HookError(Exception):
    def __init__(self, status, message, fields=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.fields = fields
        self.headers = headers or {}


def _error(status, message, fields=None, headers=None):
    body = {"error": message}
    if fields is not None:
        body["fields"] = fields
    response = JsonResponse(body, status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _product_json(product, status=200):
    return JsonResponse({"product": ProductSerializer(product).data}, status=status)


def _authenticate(request):
    key = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
    if key is None:
        raise HookError(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    if user_for_token(key) is None:
        raise HookError(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})


def _json_body(request):
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise HookError(415, "the body must be sent as application/json")
    try:
        body = json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise HookError(400, "invalid JSON body")
    if not isinstance(body, dict):
        raise HookError(400, "the body must be a JSON object")
    for key in body:
        if key in READ_ONLY:
            raise HookError(400, f"read-only field: {key}")
        if key not in WRITABLE:
            raise HookError(400, f"unknown field: {key}")
    return body


def _lookup(pk):
    try:
        return Product.objects.get(pk=uuid.UUID(pk))
    except (ValueError, Product.DoesNotExist):
        raise HookError(404, f"product {pk} not found")


def healthz(request):
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def products_collection(request):
    try:
        _authenticate(request)
        if request.method != "POST":
            return _error(405, "method not allowed", headers={"Allow": "POST"})
        serializer = ProductSerializer(data=_json_body(request))
        if not serializer.is_valid():
            raise HookError(400, "invalid product", fields=serializer.errors)
        try:
            product = serializer.save()
        except IntegrityError:
            raise HookError(400, "invalid product", fields={"name": ["duplicate name"]})
        return _product_json(product, status=201)
    except HookError as exc:
        return _error(exc.status, exc.message, exc.fields, exc.headers)


@csrf_exempt
def product_detail(request, pk):
    try:
        _authenticate(request)
        if request.method not in ("GET", "PATCH", "DELETE"):
            return _error(405, "method not allowed", headers={"Allow": "GET, PATCH, DELETE"})
        product = _lookup(pk)
        if request.method == "GET":
            return _product_json(product)
        if request.method == "DELETE":
            product.delete()
            return HttpResponse(status=204)
        serializer = ProductSerializer(product, data=_json_body(request), partial=True)
        if not serializer.is_valid():
            raise HookError(400, "invalid product", fields=serializer.errors)
        for key, value in serializer.validated_data.items():
            setattr(product, key, value)
        try:
            # force_update: if a concurrent DELETE removed the row after the
            # lookup, a plain save() would re-INSERT it and DCRF would send a
            # "create"; answer 404 instead.
            product.save(force_update=True)
        except IntegrityError:
            raise HookError(400, "invalid product", fields={"name": ["duplicate name"]})
        except DatabaseError:
            raise HookError(404, f"product {pk} not found")
        return _product_json(product)
    except HookError as exc:
        return _error(exc.status, exc.message, exc.fields, exc.headers)


def bad_request(request, exception=None):
    return _error(400, "bad request")


def forbidden(request, exception=None):
    return _error(403, "forbidden")


def not_found(request, exception=None):
    return _error(404, "not found")


def server_error(request):
    return _error(500, "internal server error")
