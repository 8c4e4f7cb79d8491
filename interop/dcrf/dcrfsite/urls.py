from django.urls import path

from users import views

urlpatterns = [
    path("healthz", views.healthz),
    path("admin/users", views.users_collection),
    path("admin/steps", views.steps),
    path("admin/users/<str:pk>", views.user_detail),
]

handler404 = "users.views.not_found"
handler500 = "users.views.server_error"
