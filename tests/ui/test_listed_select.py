"""`ListedSelect` writes the HTML Django's `Select` templates write (its options in one pass), and the
record pages use it for their plain selects while autocomplete fields stay autocomplete."""
from __future__ import annotations

import re

import pytest
from django import forms
from django.urls import reverse

from registry.models import AIModel, Organisation
from workspace.admin.widgets import ListedSelect

pytestmark = pytest.mark.django_db


def tags(html: str) -> str:
    """The markup without the whitespace Django's templates put between tags."""
    return re.sub(r">\s+<", "><", html.strip())


def both(field: forms.Field, name: str, value: object, attrs: dict[str, object] | None = None) -> tuple[str, str]:
    django_select = forms.Select(attrs=attrs)
    listed = ListedSelect(attrs=attrs)
    django_select.choices = listed.choices = field.choices
    return tags(django_select.render(name, value)), tags(listed.render(name, value))


def test_it_writes_what_djangos_select_writes_for_records_chosen_or_not(workspace_registry):
    Organisation.objects.filter(slug="beta").update(name='Beta <"Labs"> & Co')
    field = forms.ModelChoiceField(queryset=Organisation.objects.order_by("slug"))
    beta = Organisation.objects.get(slug="beta").pk
    for value, attrs in ((None, None), (beta, {"id": "id_organisation", "required": True, "class": "wide"}),
                         (str(beta), {"disabled": False, "data-x": "1"})):
        expected, written = both(field, "organisation", value, attrs)
        assert written == expected
    assert "&lt;&quot;Labs&quot;&gt; &amp; Co" in written and f'value="{beta}" selected' in written


def test_it_writes_groups_of_choices_as_djangos_select_does():
    field = forms.ChoiceField(choices=[("", "---------"), ("Training", [("gpu", "GPU"), ("tpu", "TPU")]),
                                       ("Other", [("cpu", "CPU <x86>")])])
    expected, written = both(field, "accelerator", "tpu", {"id": "id_accelerator"})
    assert written == expected and '<optgroup label="Training">' in written


def test_the_model_page_lists_every_organisation_and_keeps_the_base_model_autocomplete(admin_client, workspace_registry):
    model = AIModel.objects.get(organisation__slug="acme", name="Frontier")
    response = admin_client.get(reverse("admin:registry_aimodel_change", args=[model.pk]))
    fields = response.context["adminform"].form.fields
    assert type(fields["organisation"].widget.widget) is ListedSelect  # inside the admin's related-field wrapper
    assert type(fields["base_model"].widget) is not ListedSelect
    page = response.content.decode()
    select = re.search(r'<select name="organisation"[^>]*>(.*?)</select>', page, re.S)
    assert select, "no organisation select"
    listed = re.findall(r'<option value="(\d+)"( selected)?>', select.group(1))
    assert {int(pk) for pk, _ in listed} == set(Organisation.objects.values_list("pk", flat=True))
    assert [int(pk) for pk, chosen in listed if chosen] == [model.organisation_id]
    assert re.search(r'<select name="base_model"[^>]*class="[^"]*admin-autocomplete', page)


def test_it_selects_and_escapes_as_djangos_select_does_at_the_edges():
    """A value chosen twice is selected once (the first), a safe label is not escaped again, a group
    without a name is no group, a `None` value is an empty one."""
    from django.utils.safestring import mark_safe

    field = forms.ChoiceField(choices=[(None, "none"), ("a", mark_safe("<b>A</b>")), ("", [("x", 'X "1" & <2>')]),
                                       ("g", [("a", "again"), (7, "seven")])])
    for value in ("a", None, "", 7, "7", ["a"]):
        expected, written = both(field, "pick", value, {"id": "id_pick"})
        assert written == expected, value
    assert written.count(" selected") == 1 and "<b>A</b>" in written and "X &quot;1&quot; &amp; &lt;2&gt;" in written


def test_a_clusters_page_reads_each_selects_choices_once_for_all_its_rows(admin_client, workspace_registry):
    """Two groups (two accelerator selects) and a link: the accelerator catalog is read once for the
    groups' choices, not once a row, and the organisations once, not once more for the form the admin
    builds to learn its fields."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from registry.models import Cluster

    cluster = Cluster.objects.get(organisation__slug="acme", name="Hall A")
    assert cluster.groups.count() == 2 and cluster.links.count() == 1
    with CaptureQueriesContext(connection) as captured:
        response = admin_client.get(reverse("admin:registry_cluster_change", args=[cluster.pk]))
    assert response.status_code == 200
    statements = [query["sql"] for query in captured.captured_queries]
    catalog = [sql for sql in statements if 'FROM "registry_accelerator"' in sql]
    organisations = [sql for sql in statements if 'FROM "registry_organisation" ORDER BY' in sql]
    assert len(catalog) == 1 and len(organisations) == 1, (catalog, organisations)
    page = response.content.decode()
    rows = re.findall(r'<select name="groups-(\d)-accelerator"[^>]*>(.*?)</select>', page, re.S)
    assert [row for row, _ in rows] == ["0", "1"] and rows[0][1] == rows[1][1]  # the same accelerator in both
    assert all(" selected>" in options for _, options in rows)  # each row's own accelerator chosen


def test_choices_are_read_once_unless_each_form_limits_them():
    """A field whose model limits its choices (`limit_choices_to`) has them filtered on each form's own
    copy, after the admin made the field: it keeps Django's choices, read for each form."""
    from workspace.admin.widgets import ListedChoices, ListedSelects

    class Made:
        limit: dict[str, str] | None = None

        def formfield_for_foreignkey(self, db_field, request, **kwargs):
            return forms.ModelChoiceField(queryset=Organisation.objects.order_by("slug"), widget=kwargs["widget"],
                                          limit_choices_to=self.limit)

    class Admin(ListedSelects, Made):
        raw_id_fields = radio_fields = ()

        def get_autocomplete_fields(self, request):
            return ()

    organisation = AIModel._meta.get_field("organisation")
    assert isinstance(Admin().formfield_for_foreignkey(organisation, None).choices, ListedChoices)
    limited = Admin()
    limited.limit = {"slug": "acme"}
    assert not isinstance(limited.formfield_for_foreignkey(organisation, None).choices, ListedChoices)
