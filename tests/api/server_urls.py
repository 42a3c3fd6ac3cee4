from django.urls import include, path

urlpatterns = [
    path("", include("todoproject.urls")),
    path("", include("tests.api.urls")),
]
