from django.urls import include, path
from rest_framework.routers import DefaultRouter

from products import api, hooks

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("products", api.ProductViewSet, basename="product")

urlpatterns = [
    path("healthz", hooks.healthz),
    path("hook/products/", hooks.products_collection),
    path("hook/products/<str:pk>/", hooks.product_detail),
    path("api/", include(router.urls)),
]

handler400 = "products.hooks.bad_request"
handler403 = "products.hooks.forbidden"
handler404 = "products.hooks.not_found"
handler500 = "products.hooks.server_error"
