from django.contrib import admin
from django.urls import path

from operations import landing, views

urlpatterns = [
    path("", landing.landing, name="landing"),
    path("admin/", admin.site.urls),
    path("healthz", views.healthz, name="healthz"),
    path("livez", views.livez, name="livez"),
]
