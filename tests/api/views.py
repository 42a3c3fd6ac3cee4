"""Views written the ordinary way, as a developer adding an API would.

No mixin, no call into the project's scope API: the acting user comes from
ActingUserMiddleware alone, whoever DRF or django-ninja authenticates.
"""

from asgiref.sync import sync_to_async
from django.http import JsonResponse
from ninja import NinjaAPI, Schema
from ninja.security import HttpBearer
from rest_framework import permissions, serializers, viewsets
from rest_framework.authentication import (
    BasicAuthentication,
    SessionAuthentication,
    TokenAuthentication,
)
from rest_framework.authtoken.models import Token
from rest_framework.decorators import api_view, authentication_classes
from rest_framework.response import Response
from rest_framework_simplejwt.authentication import JWTAuthentication

from ownership.ninja import register_error_handlers
from ownership.scope import acting_as
from tasks import services
from tasks.models import Task

AUTHENTICATION = [
    TokenAuthentication,
    JWTAuthentication,
    SessionAuthentication,
    BasicAuthentication,
]


class TaskSerializer(serializers.ModelSerializer):
    class Meta:
        model = Task
        fields = ["id", "title", "description", "completed", "owner"]
        read_only_fields = ["owner"]


class TaskViewSet(viewsets.ModelViewSet):
    queryset = Task.objects.all()
    serializer_class = TaskSerializer
    authentication_classes = AUTHENTICATION
    permission_classes = [permissions.IsAuthenticated]

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)


class SessionFirstTaskViewSet(TaskViewSet):
    """DRF's default order: the session is tried before the token."""

    authentication_classes = [SessionAuthentication, TokenAuthentication]


@api_view(["GET"])
@authentication_classes(AUTHENTICATION)
def my_tasks(request):
    """The reverse relation and a filter on the user, as views often read."""
    related = [task.title for task in request.user.tasks.order_by("title")]
    filtered = Task.objects.filter(owner=request.user).count()
    return Response({"related": related, "filtered": filtered})


@api_view(["GET", "PATCH", "DELETE"])
@authentication_classes(AUTHENTICATION)
def service_task(request, pk):
    """The services, with their exceptions left to the exception handler."""
    if request.method == "GET":
        task = services.get_task(request.user, pk)
    elif request.method == "PATCH":
        task = services.update_task(request.user, pk, **request.data)
    else:
        services.delete_task(request.user, pk)
        return Response(status=204)
    return Response(TaskSerializer(task).data)


@api_view(["GET"])
@authentication_classes(AUTHENTICATION)
def other_users_tasks(request, user_id):
    """A bug: another user's id from the URL, handed to a service."""
    from accounts.models import User

    other = User.objects.get(pk=user_id)
    return Response({"count": services.get_tasks(other).count()})


# --- django-ninja -----------------------------------------------------------


class TokenBearer(HttpBearer):
    def authenticate(self, request, token):
        found = Token.objects.select_related("user").filter(key=token).first()
        # The one line ninja needs: return the user.
        return found.user if found else None


api = NinjaAPI(auth=TokenBearer(), urls_namespace="ninja")
register_error_handlers(api)


class TaskOut(Schema):
    id: int
    title: str
    completed: bool


@api.get("/tasks", response=list[TaskOut])
def ninja_tasks(request):
    return list(Task.objects.all())


@api.get("/tasks/{task_id}", response=TaskOut)
def ninja_task(request, task_id: int):
    return services.get_task(request.auth, task_id)


@api.get("/async-tasks", response=list[TaskOut])
async def ninja_async_tasks(request):
    return [task async for task in Task.objects.all()]


# --- async Django views -----------------------------------------------------


async def async_tasks(request):
    """Every async way of reading, in the request's scope."""
    if not await request.auser():
        return JsonResponse({"detail": "log in"}, status=401)
    titles = [task.title async for task in Task.objects.order_by("title")]
    streamed = [task.title async for task in Task.objects.order_by("title").aiterator()]
    return JsonResponse(
        {
            "titles": titles,
            "streamed": streamed,
            "count": await Task.objects.acount(),
            "first": getattr(
                await Task.objects.order_by("title").afirst(), "title", None
            ),
        }
    )


async def async_acting_as(request, user_id):
    """A scope opened inside an async view, for a user found by id."""
    from accounts.models import User

    user = await User.objects.aget(pk=user_id)
    async with acting_as(user):
        bound = services.get_tasks(user)
        return JsonResponse(
            {
                "count": await Task.objects.acount(),
                "bound": [t.title async for t in bound.order_by("title").aiterator()],
                "bound_count": await bound.acount(),
                "got": (await bound.order_by("title").aget(title="a")).title,
            }
        )


async def async_bound(request):
    """A bound queryset (a service's result) read asynchronously."""
    user = await request.auser()
    tasks = await sync_to_async(services.get_tasks)(user)
    return JsonResponse(
        {
            "iterated": [t.title async for t in tasks.order_by("title").aiterator()],
            "count": await tasks.acount(),
        }
    )
