"""Account endpoints written the DRF way, following docs/api.md "Accounts".

Sign-up, one's own profile, closing one's account, a password reset
confirmed by token, and an account manager's view: the views the next
phase writes, with the scopes the docs name and nothing more.
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.shortcuts import get_object_or_404
from django.urls import path
from rest_framework import generics, permissions, serializers, status
from rest_framework.authentication import TokenAuthentication
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.services import delete_user
from ownership.scope import acting_as, staff_scope

User = get_user_model()


class SignUpSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "password"]
        extra_kwargs = {"password": {"write_only": True}}

    def create(self, validated_data):
        return User.objects.create_user(**validated_data)


class SignUp(generics.CreateAPIView):
    permission_classes = [permissions.AllowAny]
    serializer_class = SignUpSerializer


class ProfileSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "is_staff"]
        read_only_fields = ["username", "is_staff"]


class Me(generics.RetrieveUpdateDestroyAPIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [permissions.IsAuthenticated]
    serializer_class = ProfileSerializer

    def get_object(self):
        return self.request.user

    def perform_destroy(self, instance):
        delete_user(instance)


class ResetConfirm(APIView):
    permission_classes = [permissions.AllowAny]

    def post(self, request):
        user = get_object_or_404(User, pk=request.data.get("user"))
        if not default_token_generator.check_token(user, request.data.get("token")):
            return Response(status=status.HTTP_400_BAD_REQUEST)
        with acting_as(user):
            user.set_password(request.data["password"])
            user.save()
        return Response(status=status.HTTP_204_NO_CONTENT)


class MakeStaff(APIView):
    authentication_classes = [TokenAuthentication]
    permission_classes = [permissions.IsAdminUser]

    def post(self, request, pk):
        user = get_object_or_404(User, pk=pk)
        with staff_scope(request.user):
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        return Response({"is_staff": True})


urlpatterns = [
    path("signup/", SignUp.as_view()),
    path("me/", Me.as_view()),
    path("reset/", ResetConfirm.as_view()),
    path("users/<int:pk>/staff/", MakeStaff.as_view()),
]
