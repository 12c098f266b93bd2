"""Triggers that delete a cell's nodes with the cell, however the cell is deleted.

``nodes.cell_id`` has no foreign key (a cell's nodes are a range of the
nodes' primary key, ``tables.cell_nodes``, and a key would need an index
SQLite no longer keeps), so the database itself removes a deleted cell's
nodes: a session's ``delete``, a bulk ``delete(Run)``, raw SQL and the
cascade from a deleted run all leave no nodes behind. The edges, node
values and artifacts that refer to those nodes follow through their own
foreign keys.

* SQLite: a row trigger on ``cells`` that deletes the cell's key range
  (cascaded deletes fire it).
* PostgreSQL: a statement trigger on ``cells`` with the deleted rows as a
  transition table: one delete of nodes per statement, not per cell.
* MariaDB: cascaded deletes fire no triggers there, so besides the row
  trigger on ``cells``, one on ``runs`` deletes the nodes of the run's
  cells before the run goes.

Created by ``tables`` for a new database and by migration 0006 for an
older one. On SQLite, a later migration that copies ``cells`` must create
them again: dropping a table drops its triggers.
"""

from __future__ import annotations

from typing import Any

from ..ids import FIRST_NODE_SUFFIX, LAST_NODE_SUFFIX

NAMES = ("trg_cells_delete_nodes", "trg_runs_delete_nodes")
_PG_FUNCTION = "lineage_delete_cell_nodes"


def create_statements(dialect: str) -> list[str]:
    """The DDL that creates the triggers on this backend."""
    if dialect == "sqlite":
        return [
            "CREATE TRIGGER trg_cells_delete_nodes AFTER DELETE ON cells BEGIN "
            f"DELETE FROM nodes WHERE id >= old.id || '{FIRST_NODE_SUFFIX}' "
            f"AND id <= old.id || '{LAST_NODE_SUFFIX}' AND cell_id = old.id; END"
        ]
    if dialect == "postgresql":
        return [
            f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "DELETE FROM nodes WHERE cell_id IN (SELECT id FROM deleted_cells); RETURN NULL; END $$",
            "CREATE TRIGGER trg_cells_delete_nodes AFTER DELETE ON cells "
            "REFERENCING OLD TABLE AS deleted_cells FOR EACH STATEMENT "
            f"EXECUTE FUNCTION {_PG_FUNCTION}()",
        ]
    if dialect in ("mysql", "mariadb"):
        return [
            "CREATE TRIGGER trg_cells_delete_nodes AFTER DELETE ON cells FOR EACH ROW "
            "DELETE FROM nodes WHERE cell_id = OLD.id",
            "CREATE TRIGGER trg_runs_delete_nodes BEFORE DELETE ON runs FOR EACH ROW "
            "DELETE nodes FROM nodes JOIN cells ON nodes.cell_id = cells.id WHERE cells.run_id = OLD.id",
        ]
    raise ValueError(f"no node triggers for the {dialect} backend")


def drop_statements(dialect: str) -> list[str]:
    """The DDL that drops them again."""
    if dialect == "sqlite":
        return ["DROP TRIGGER IF EXISTS trg_cells_delete_nodes"]
    if dialect == "postgresql":
        return ["DROP TRIGGER IF EXISTS trg_cells_delete_nodes ON cells",
                f"DROP FUNCTION IF EXISTS {_PG_FUNCTION}()"]
    return [f"DROP TRIGGER IF EXISTS {name}" for name in NAMES]


def create(connection: Any) -> None:
    """Create the triggers on this connection's database."""
    for statement in create_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)


def drop(connection: Any) -> None:
    """Drop them again."""
    for statement in drop_statements(connection.dialect.name):
        connection.exec_driver_sql(statement)
