"""Minimal Django settings for the DCRF 1.3.0 interop server (loopback only)."""
import os
import tempfile

BASE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SECRET_KEY = "dcrf-interop-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "users",
]

# No middleware: no CSRF, no APPEND_SLASH redirects on the admin API.
MIDDLEWARE = []

ROOT_URLCONF = "dcrfsite.urls"
ASGI_APPLICATION = "dcrfsite.asgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(
            "DCRF_DB", os.path.join(tempfile.gettempdir(), "dcrf-interop.sqlite3")
        ),
        # ATOMIC_REQUESTS stays False (the default): DCRF's sync actions are
        # then not wrapped in transaction.atomic (see decorators.action).
    }
}

CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Fast hashing: irrelevant to the protocol, keeps create/seed quick.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
    "root": {"handlers": ["stderr"], "level": "WARNING"},
}
