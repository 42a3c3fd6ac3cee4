import random

import factory
from django.contrib.auth import get_user_model

from ownership.scope import acting_as
from tasks.models import Task
from tasks.sample_data import task_title
from tests.privileges import as_root


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password("correct horse battery staple")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Staff and superusers are made by staff who may change users.
        if kwargs.get("is_staff") or kwargs.get("is_superuser"):
            with as_root():
                return super()._create(model_class, *args, **kwargs)
        return super()._create(model_class, *args, **kwargs)


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    # The words of seed_sample_data's titles, so tests and seeds agree.
    title = factory.Sequence(lambda n: task_title(random.Random(n)))
    description = ""
    owner = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Row-level security accepts a task only from its owner.
        with acting_as(kwargs["owner"]):
            return super()._create(model_class, *args, **kwargs)
