"""A determination's status, trigger and subject kind, and the same in the index of current
determinations, stored as codes of their vocabularies (`rules.codes`): 2 bytes where the text took 7
to 15, in the rows and in the indexes that hold them. The product reads and writes the same texts, and
the rows' hashes cover the texts as before.

On PostgreSQL each table is rewritten once (`ALTER COLUMN ... TYPE smallint USING` the code), which
also drops the bytes of columns removed before (rules.0023, rules.0025) from its rows; on SQLite the
texts are replaced by their codes and the tables remade, and the log's trigger that a remake drops
(rules.0022) is made again."""
from importlib import import_module

from django.db import migrations

import rules.codes

once_per_run = import_module("rules.migrations.0022_once_per_run_refused_by_a_trigger")
OnSQLite = import_module("rules.migrations.0023_determination_keyed_by_its_position").OnSQLite

# the vocabularies as this migration codes them (codes are never changed: a later text is added at the end)
VOCABULARIES = {
    "status": ("covered", "indeterminate", "not_applicable", "not_covered", "not_in_force"),
    "trigger": ("manual", "publication", "schedule", "submission"),
    "subject_kind": ("cluster", "model", "organisation"),
}
COLUMNS = {
    "rules_determination": ("status", "trigger", "subject_kind"),
    "rules_currentdetermination": ("status", "subject_kind"),
}


def _to_codes(column: str) -> str:
    whens = " ".join(f"WHEN '{word}' THEN {place}" for place, word in enumerate(VOCABULARIES[column], start=1))
    return f"CASE {column} {whens} END"


def _to_texts(column: str, *, quoted: bool) -> str:
    # on SQLite a code copied into a text column by the table's remake is its digits
    whens = " ".join(f"WHEN {repr(str(place)) if quoted else place} THEN '{word}'"
                     for place, word in enumerate(VOCABULARIES[column], start=1))
    return f"CASE {column} {whens} END"


def to_codes(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table, columns in COLUMNS.items():
        if vendor == "postgresql":  # one rewrite of each table
            schema_editor.execute(f"ALTER TABLE {table} " + ", ".join(
                f"ALTER COLUMN {column} TYPE smallint USING ({_to_codes(column)})" for column in columns))
        elif vendor == "sqlite":
            schema_editor.execute(f"UPDATE {table} SET " + ", ".join(f"{column} = {_to_codes(column)}"
                                                                       for column in columns))


def to_texts(apps, schema_editor):
    """Back, once the tables are remade with text columns: the codes replaced by their texts; on
    SQLite the trigger the remakes dropped made again."""
    vendor = schema_editor.connection.vendor
    for table, columns in COLUMNS.items():
        if vendor == "postgresql":
            schema_editor.execute(f"ALTER TABLE {table} " + ", ".join(
                f"ALTER COLUMN {column} TYPE varchar(16) USING ({_to_texts(column, quoted=False)})"
                for column in columns))
        elif vendor == "sqlite":
            schema_editor.execute(f"UPDATE {table} SET " + ", ".join(f"{column} = {_to_texts(column, quoted=True)}"
                                                                       for column in columns))
    trigger_made_again_sqlite(apps, schema_editor)


def trigger_made_again_sqlite(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        once_per_run.create_trigger(apps, schema_editor)


def _coded(model_name: str, name: str):
    kwargs = {"max_length": 16, "vocabulary": name}
    if name == "status":
        kwargs["choices"] = [("covered", "covered"), ("not_covered", "not covered"), ("indeterminate", "indeterminate"),
                             ("not_in_force", "not in force"), ("not_applicable", "not applicable")]
    elif name == "trigger":
        kwargs["choices"] = [("submission", "Submission"), ("publication", "Rule version published"),
                             ("schedule", "Scheduled re-evaluation"), ("manual", "Requested re-evaluation")]
    return OnSQLite(migrations.AlterField(model_name=model_name, name=name, field=rules.codes.CodedField(**kwargs)))


class Migration(migrations.Migration):

    dependencies = [
        ("rules", "0025_payloads_and_facts_snapshots_numbered"),
    ]

    operations = [
        migrations.RunPython(to_codes, to_texts),
        _coded("currentdetermination", "status"),
        _coded("currentdetermination", "subject_kind"),
        _coded("determination", "status"),
        _coded("determination", "subject_kind"),
        _coded("determination", "trigger"),
        migrations.RunPython(trigger_made_again_sqlite, migrations.RunPython.noop),
    ]
