"""Settings of the shop app: a production-like DCRF 1.3.0 project (loopback only).

Everything that differs between runs comes from the environment:

  SHOP_DB             SQLite file shared by every process (WAL mode); default
                      <tmp>/shop-interop.sqlite3
  SHOP_CHANNEL_LAYER  "memory" (default; channels' InMemoryChannelLayer, one per
                      process) or "redis" (channels_redis, shared by processes)
  SHOP_REDIS_URL      redis://HOST:PORT[/DB]; required with SHOP_CHANNEL_LAYER=redis
  SHOP_REDIS_PREFIX   key prefix of the channel layer in Redis (default "shop")
  SHOP_TOKEN          the API token seeded by `manage.py seed_shop` (default
                      "shop-dev-token"); read there only, never by the server
"""
import os
import tempfile

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECRET_KEY = "shop-interop-not-secret"
DEBUG = False
# Also the Origin allow-list of channels' AllowedHostsOriginValidator (asgi.py).
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "drf_spectacular",
    "products",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]

# A path without its trailing slash is a 404, not a 301 to the slashed path
# (a redirected POST or PATCH would lose its method and body).
APPEND_SLASH = False

ROOT_URLCONF = "shopsite.urls"
ASGI_APPLICATION = "shopsite.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(
            "SHOP_DB", os.path.join(tempfile.gettempdir(), "shop-interop.sqlite3")
        ),
        "OPTIONS": {
            # Several Daphne processes write to the same file: WAL lets readers
            # and one writer work at once, and a writer waits up to `timeout`
            # seconds for the lock instead of failing with "database is locked".
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        },
    }
}


def _channel_layers():
    kind = os.environ.get("SHOP_CHANNEL_LAYER", "memory")
    if kind == "memory":
        return {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    if kind == "redis":
        url = os.environ.get("SHOP_REDIS_URL")
        if not url:
            raise ImproperlyConfigured("SHOP_CHANNEL_LAYER=redis needs SHOP_REDIS_URL")
        return {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    # redis-py 8 reads with a 5 s socket timeout by default, and
                    # channels_redis 4.3.0 blocks in BZPOPMIN for 5 s (brpop_timeout):
                    # under load the read times out first, the consumer's receive raises
                    # "Timeout reading from ...", and a socket is left unanswered. The
                    # socket timeout must exceed brpop_timeout.
                    "hosts": [{"address": url, "socket_timeout": 30}],
                    "prefix": os.environ.get("SHOP_REDIS_PREFIX", "shop"),
                },
            }
        }
    raise ImproperlyConfigured(
        f"SHOP_CHANNEL_LAYER must be 'memory' or 'redis', not {kind!r}"
    )


CHANNEL_LAYERS = _channel_layers()

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["products.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Shop API",
    "DESCRIPTION": (
        "The REST twin of the shop app's DCRF 1.3.0 consumers "
        "(/api/live/products/ and /api/live/products/crud/): the same ProductSerializer."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
