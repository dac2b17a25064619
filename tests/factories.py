"""factory_boy factories for registry records, interchange documents built from them, and the few
set-ups many tests share: a submission, two labs with their records, an API client with a token."""
from __future__ import annotations

import itertools
from typing import Any

import factory

from registry.models import Accelerator, AcceleratorGroup, AIModel, Cluster, NetworkLink, Organisation


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"lab-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug.title()} Labs")
    country = "US"
    annual_revenue_usd = 6.0e8
    revenue_year = 2025


class AIModelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AIModel

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"model-{n}")
    version = "1"
    parameter_count = 7e10
    training_tokens = 1.5e13
    general_purpose = True
    primarily_biological_sequence_data = False
    modalities = factory.LazyFunction(lambda: ["text"])


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"cluster-{n}")
    used_for_ai_training = True


class AcceleratorGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AcceleratorGroup

    cluster = factory.SubFactory(ClusterFactory)
    name = factory.Sequence(lambda n: f"group-{n}")
    datacenter = "dc-1"
    accelerator = factory.LazyFunction(lambda: Accelerator.objects.get(slug="nvidia-h100-sxm"))
    accelerator_count = 1024
    accelerators_per_node = 8
    network_gbps = 400.0


class NetworkLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NetworkLink

    from_group = factory.SubFactory(AcceleratorGroupFactory)
    to_group = factory.SubFactory(AcceleratorGroupFactory, cluster=factory.SelfAttribute("..from_group.cluster"))
    cluster = factory.SelfAttribute("from_group.cluster")
    gbps = 800.0


class OrganisationRecordFactory(factory.DictFactory):
    slug = factory.Sequence(lambda n: f"org-{n}")
    name = factory.LazyAttribute(lambda o: f"{o.slug} Inc.")
    country = "US"
    annual_revenue_usd = 6.0e8
    revenue_year = 2025


class ModelRecordFactory(factory.DictFactory):
    organisation = "acme"
    name = factory.Sequence(lambda n: f"Model-{n}")
    version = "1"
    parameter_count = 4.05e11
    training_tokens = 1.56e13
    general_purpose = True
    primarily_biological_sequence_data = False
    modalities = factory.LazyFunction(lambda: ["text"])
    # before the earliest regime in the library (EO 14110, 2023-10-30), so a record exists on any as-of date a
    # test evaluates it on unless the test gives it later dates (existence in time: DESIGN.md)
    released_on = "2023-07-18"


class ClusterRecordFactory(factory.DictFactory):
    organisation = "acme"
    name = factory.Sequence(lambda n: f"Hall {n}")
    used_for_ai_training = True
    groups = factory.LazyFunction(lambda: [
        {"name": "a", "datacenter": "dc-1", "accelerator": "nvidia-h100-sxm", "accelerator_count": 100000,
         "accelerators_per_node": 8, "network_gbps": 400},
        {"name": "b", "datacenter": "dc-1", "accelerator": "nvidia-h100-sxm", "accelerator_count": 2048,
         "accelerators_per_node": 8, "network_gbps": 400},
    ])
    links = factory.LazyFunction(lambda: [{"from": "a", "to": "b", "gbps": 800}])
    operational_from = "2023-09-04"  # before EO 14110, as released_on above


def document(*, organisations: list[dict[str, Any]] | None = None, models: list[dict[str, Any]] | None = None,
             clusters: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An interchange document; an `acme` organisation is included unless organisations are given."""
    orgs = organisations if organisations is not None else [OrganisationRecordFactory(slug="acme", name="Acme AI")]
    return {"organisations": orgs, "models": models or [], "clusters": clusters or []}


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "auth.User"
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user-{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")


def submit(*, via: str = "import", **sections: Any) -> Any:
    """Submits the interchange document `document(**sections)` through the one write path."""
    from registry.services import registry_submit

    return registry_submit(document(**sections), via=via)


def submit_acme_and_rival(*, acme_model: dict[str, Any] | None = None, rival_models: tuple[str, ...] = ()) -> None:
    """A lab with a model: acme (Acme AI) with Acme-1@1 (`acme_model` overrides its fields) and the
    cluster Hall A; rival (Rival AI), another lab, with a model of each of `rival_models`' names."""
    submit(
        organisations=[OrganisationRecordFactory(slug="acme", name="Acme AI"),
                       OrganisationRecordFactory(slug="rival", name="Rival AI")],
        models=[ModelRecordFactory(organisation="acme", name="Acme-1", **(acme_model or {})),
                *(ModelRecordFactory(organisation="rival", name=name) for name in rival_models)],
        clusters=[ClusterRecordFactory(organisation="acme", name="Hall A")],
    )


def token_client(token: str) -> Any:
    """An API client that sends `token` as its bearer token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


_api_user_numbers = itertools.count(1)


def api_user(*, role: str, organisation: str | None = None, username: str | None = None) -> tuple[Any, str]:
    """A user with an API role (lab member of `organisation`, or regulator) and a fresh token: (user, token)."""
    from accounts.services import api_user_create

    user, _created, _token, key = api_user_create(
        username=username or f"{role}-{organisation or 'agency'}-{next(_api_user_numbers)}",
        role=role, organisation_slug=organisation,
    )
    return user, key


def determinations_naming(text: str, **filters: Any) -> list[Any]:
    """The determinations (of those `filters` select) whose stored payload text contains `text`, read
    from each unpacked payload rather than by the release scope's own search."""
    from rules.models import Determination

    rows = Determination.objects.filter(**filters).order_by("pk")
    return [row for row in rows if text in row.payload_text]
