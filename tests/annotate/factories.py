from __future__ import annotations

import hashlib

import factory
from django.contrib.auth import get_user_model
from django.db.models import Max
from django.utils import timezone

from annotate.models import (
    FixSession,
    FixStep,
    Job,
    Run,
    RunKind,
    RunStatus,
    Sample,
    SessionStatus,
    System,
    SystemMode,
    Translation,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    # A fast hasher is not configured on purpose: tests log in with force_login, never with a password.
    password = factory.django.Password("not-used-in-tests")


class SampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sample

    key = factory.Sequence(lambda n: f"s{n}")
    title = factory.Sequence(lambda n: f"Sample {n}")
    origin = "demo"
    difficulty = "easy"
    pytorch_code = "import torch\n\nprint(torch.ones(2).sum().item())\n"


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"system-{n}")
    mode = SystemMode.STANDARD


class TranslationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Translation

    sample = factory.SubFactory(SampleFactory)
    system = factory.SubFactory(SystemFactory)
    code = "import jax.numpy as jnp\n\nprint(jnp.ones(2).sum())\n"


class FixSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FixSession

    translation = factory.SubFactory(TranslationFactory)
    owner = factory.SubFactory(UserFactory)
    status = SessionStatus.OPEN
    claimed_at = factory.LazyFunction(timezone.now)
    last_activity_at = factory.LazyFunction(timezone.now)
    current_code = factory.LazyAttribute(lambda o: o.translation.code)


class FixStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = FixStep

    session = factory.SubFactory(FixSessionFactory)
    # The session's next index: a global sequence could hand out an index a test then gives another step.
    index = factory.LazyAttribute(lambda o: (o.session.steps.aggregate(last=Max("index"))["last"] or 0) + 1)
    error_code = "x = jnp.random.normal(size=(3,))"
    error = "AttributeError: module 'jax.numpy' has no attribute 'random'"
    fix_info = "Use jax.random with an explicit PRNG key."
    fixed_code = "x = jax.random.normal(key, (3,))"
    author = factory.LazyAttribute(lambda o: o.session.owner)


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    kind = RunKind.JAX
    code = "print(1)\n"
    code_hash = factory.LazyAttribute(lambda o: hashlib.sha256(o.code.encode()).hexdigest())
    status = RunStatus.OK
    exit_code = 0
    isolation = "full"


class JobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Job

    kind = "recount"
    system = factory.SubFactory(SystemFactory)
