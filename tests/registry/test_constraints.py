"""The database refuses what the law's arithmetic cannot use: counts, utilization, uniqueness, self-lineage."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from tests.factories import AcceleratorGroupFactory, AIModelFactory, NetworkLinkFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("utilization", [0.0, -0.1, 1.01, 2.0])
def test_utilization_outside_unit_interval_is_refused_by_the_database(utilization):
    with pytest.raises(IntegrityError), transaction.atomic():
        AIModelFactory(training_utilization=utilization)


@pytest.mark.parametrize("utilization", [1e-6, 0.4, 1.0])
def test_utilization_inside_unit_interval_is_stored(utilization):
    assert AIModelFactory(training_utilization=utilization).training_utilization == utilization


@pytest.mark.parametrize("uncertainty", [1.01, 2.0, -0.1])
def test_an_uncertainty_above_100_percent_or_negative_is_refused_by_the_database(uncertainty):
    with pytest.raises(IntegrityError), transaction.atomic():
        AIModelFactory(training_compute_uncertainty=uncertainty)


@pytest.mark.parametrize("uncertainty", [0.0, 0.3, 1.0])
def test_an_uncertainty_up_to_100_percent_is_stored(uncertainty):
    assert AIModelFactory(training_compute_uncertainty=uncertainty).training_compute_uncertainty == uncertainty


@pytest.mark.parametrize("field", ["parameter_count", "active_parameter_count", "training_tokens", "training_hours"])
def test_zero_or_negative_counts_are_refused(field):
    for value in (0, -1):
        with pytest.raises(IntegrityError), transaction.atomic():
            AIModelFactory(**{field: value})


def test_group_accelerator_count_must_be_positive():
    with pytest.raises(IntegrityError), transaction.atomic():
        AcceleratorGroupFactory(accelerator_count=0)


def test_group_without_catalog_accelerator_or_own_peak_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        AcceleratorGroupFactory(accelerator=None, peak_dense_max_ops_per_second=None)


def test_group_with_own_peak_figures_needs_no_catalog_accelerator():
    group = AcceleratorGroupFactory(accelerator=None, peak_dense_max_ops_per_second=2e15)
    assert group.pk is not None


def test_link_from_a_group_to_itself_is_refused():
    link = NetworkLinkFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        type(link).objects.create(cluster=link.cluster, from_group=link.from_group, to_group=link.from_group, gbps=100)


def test_organisation_name_version_is_unique():
    org = OrganisationFactory()
    AIModelFactory(organisation=org, name="Acme-1", version="1")
    AIModelFactory(organisation=org, name="Acme-1", version="2")
    with pytest.raises(IntegrityError), transaction.atomic():
        AIModelFactory(organisation=org, name="Acme-1", version="1")


def test_model_cannot_be_its_own_base_in_the_database():
    model = AIModelFactory()
    model.base_model = model
    with pytest.raises(IntegrityError), transaction.atomic():
        model.save()


def test_model_clean_refuses_a_lineage_cycle():
    a = AIModelFactory()
    b = AIModelFactory(base_model=a)
    c = AIModelFactory(base_model=b)
    a.base_model = c
    with pytest.raises(ValidationError) as caught:
        a.full_clean()
    assert "base_model" in caught.value.message_dict


def test_negative_revenue_is_refused():
    with pytest.raises(IntegrityError), transaction.atomic():
        OrganisationFactory(annual_revenue_usd=-1)
