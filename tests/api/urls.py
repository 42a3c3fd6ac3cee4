from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import views

router = DefaultRouter()
router.register("tasks", views.TaskViewSet, basename="task")
router.register("session-first", views.SessionFirstTaskViewSet, basename="sf")

urlpatterns = [
    path("drf/", include(router.urls)),
    path("drf/mine/", views.my_tasks),
    path("drf/service/<int:pk>/", views.service_task),
    path("drf/users/<int:user_id>/tasks/", views.other_users_tasks),
    path("ninja/", views.api.urls),
    path("async/tasks/", views.async_tasks),
    path("async/acting-as/<int:user_id>/", views.async_acting_as),
    path("async/bound/", views.async_bound),
]
