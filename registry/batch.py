"""Rows inserted together: a new record, its first revision and what the `subjects_changed`
receivers write with it (its audit event, its outbox row), in one statement.

Through the ORM each of those rows is a statement of its own, a round trip to the database and
about 0.2 ms of Python to compile and send; a lab's submission of a new model made four of them.
On PostgreSQL an `InsertBatch` writes its rows as one `INSERT` per row chained in data-modifying
common table expressions, so a row may take the primary key of one inserted before it in the same
statement (a revision its record's, an outbox row the record's id). The statement is atomic on its
own, so a submission that writes nothing else needs no transaction around it, nor the round trips
of its BEGIN and COMMIT; what was to follow the commit (`on_commit`) follows the statement.
Elsewhere (SQLite) the rows are saved one by one, in the order added, inside the caller's transaction.

A row is inserted as `Model.save()` would insert it (each field's `pre_save` with `add=True`, so
`auto_now_add` and `auto_now` are set, and its `get_db_prep_save`), but `save()` itself is not
called and no `pre_save`/`post_save` signal is sent: a model whose `save()` sets fields must have
them set when the row is added (`AIModel.set_stored_fields`).
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.db import connections, transaction
from django.db.models import Model


class InsertBatch:
    """Unsaved model instances to insert in one statement (`execute`), in the order added. Each
    instance's primary key is set once the batch is executed."""

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self._rows: list[tuple[Model, dict[str, Model]]] = []
        self._positions: dict[int, int] = {}  # id(instance) -> its position in the batch
        self._committed: list[Callable[[], Any]] = []
        self._executed = False

    @property
    def in_one_statement(self) -> bool:
        """Whether the rows are written by one statement (atomic on its own, without a transaction)."""
        return connections[self.using].vendor == "postgresql"

    def add(self, obj: Model, **keys: Model) -> Model:
        """Adds `obj`, to be inserted after the rows added before it. Each of `keys` names a column of
        `obj` (its attname, as `record_id`) that takes the primary key of the given row: one of this
        batch, or one stored already. A foreign key set to a row of this batch takes its key the same way."""
        if self._executed:
            raise RuntimeError("this batch has been executed: a row added now would never be written")
        if obj.pk is not None or id(obj) in self._positions:
            raise ValueError(f"{obj!r} is stored already or in the batch: a batch inserts new rows once")
        fields = {field.attname for field in obj._meta.concrete_fields}
        for attname, row in keys.items():
            if attname not in fields:
                raise ValueError(f"{type(obj).__name__} has no column {attname!r}")
            if row.pk is None and id(row) not in self._positions:
                raise ValueError(f"{attname}: {row!r} is neither stored nor in this batch")
        self._positions[id(obj)] = len(self._rows)
        self._rows.append((obj, keys))
        return obj

    def on_commit(self, callback: Callable[[], Any]) -> None:
        """`callback` is run once the rows are committed (`transaction.on_commit`, from `execute`): at
        once if the batch is executed outside a transaction, its statement being its own."""
        if self._executed:
            raise RuntimeError("this batch has been executed already")
        self._committed.append(callback)

    def execute(self) -> None:
        """Inserts every row; afterwards each has its primary key. Nothing is written if any fails:
        on PostgreSQL the statement is atomic on its own; elsewhere call this inside a transaction."""
        if self._executed:
            raise RuntimeError("this batch has been executed already")
        self._executed = True
        if self._rows:
            if self.in_one_statement:
                self._execute_in_one_statement(connections[self.using])
            else:
                self._execute_one_by_one()
        for callback in self._committed:
            transaction.on_commit(callback, using=self.using)

    def _references(self, obj: Model, keys: dict[str, Model]) -> dict[str, Model]:
        """The columns of `obj` that take another row's key: those given, and its foreign keys set to
        a row (of the batch, or stored), as `Model.save()` would take them from the related row."""
        references = dict(keys)
        for field in obj._meta.concrete_fields:
            if field.many_to_one and field.attname not in references and field.is_cached(obj):
                related = field.get_cached_value(obj)
                if related is None:
                    continue
                if related.pk is None and id(related) not in self._positions:
                    raise ValueError(f"{obj._meta.label}.{field.name}: {related!r} is neither stored nor in this batch")
                references[field.attname] = related
        return references

    def _execute_one_by_one(self) -> None:
        for obj, keys in self._rows:
            for attname, row in self._references(obj, keys).items():
                setattr(obj, attname, row.pk)
            obj.save(force_insert=True, using=self.using)

    def _execute_in_one_statement(self, connection: Any) -> None:
        params: list[Any] = []
        shape = []  # what the statement's text depends on: each row's model, and which columns take a key
        for obj, keys in self._rows:
            meta = obj._meta
            references = self._references(obj, keys)
            assigned = getattr(obj, meta.pk.attname) is None  # the key is the database's, and returned
            sources = []
            for field in meta.concrete_fields:
                if assigned and field.primary_key:
                    continue
                row = references.get(field.attname)
                if row is None:
                    value = field.get_db_prep_save(field.pre_save(obj, True), connection)
                    if hasattr(value, "resolve_expression"):
                        raise ValueError(f"{meta.label}.{field.name}: an expression cannot be inserted with a batch")
                    params.append(value)
                    sources.append(None)
                elif id(row) in self._positions:
                    sources.append(self._positions[id(row)])
                else:
                    params.append(row.pk)
                    sources.append(None)
            shape.append((type(obj), assigned, tuple(sources)))
        with connection.cursor() as cursor:
            cursor.execute(_statement(connection.alias, tuple(shape)), params)
            keys = cursor.fetchone()
        for (obj, _keys), key in zip(self._rows, keys, strict=True):
            obj.pk = key
            obj._state.adding = False
            obj._state.db = connection.alias


@functools.lru_cache(maxsize=64)
def _statement(alias: str, shape: tuple[tuple[type[Model], bool, tuple[int | None, ...]], ...]) -> str:
    """The text of a batch's statement: one data-modifying expression per row (`r0`, `r1`, ...), each
    returning its row's key, which a later row's column may take; then every key, in order. Written
    once per shape, so that the database plans it once per connection too (`api.prepared`)."""
    quote = connections[alias].ops.quote_name
    expressions, returned = [], []
    for position, (model, assigned, sources) in enumerate(shape):
        meta = model._meta
        fields = [field for field in meta.concrete_fields if not (assigned and field.primary_key)]
        values = [f"r{source}.{quote(shape[source][0]._meta.pk.column)}" if source is not None else "%s"
                  for source in sources]
        insert = f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)})"
        taken = [f"r{source}" for source in dict.fromkeys(source for source in sources if source is not None)]
        if taken:  # each expression before this one returns exactly one row
            insert += f" SELECT {', '.join(values)} FROM {', '.join(taken)}"
        else:
            insert += f" VALUES ({', '.join(values)})"
        pk = quote(meta.pk.column)
        expressions.append(f"r{position} AS ({insert} RETURNING {pk})")
        returned.append(f"r{position}.{pk}")
    names = ", ".join(f"r{position}" for position in range(len(shape)))
    return f"WITH {', '.join(expressions)} SELECT {', '.join(returned)} FROM {names}"
