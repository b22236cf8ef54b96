"""The knowledge graph: thoth-storages' tables (schema revision, indexes, version entities and their rules)."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence

import psycopg2.extras

from thoth.package_releases.config import INDEX_SETTINGS, IndexConfig
from thoth.package_releases.releases import matching_rules, range_is_valid
from thoth.package_releases.store.connection import Connection, Cursor, to_sqlalchemy_url
from thoth.package_releases.store.schema import SchemaError, head_revision, upgrade_knowledge_graph
from thoth.package_releases.values import EntityRule, IndexChange, IndexRow, Release

_LOGGER = logging.getLogger(__name__)


class KnowledgeGraph:
    """Reads and writes of thoth-storages' tables over a shared connection (the job's state is elsewhere)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    # -- schema -------------------------------------------------------------------------------------------

    def revision(self) -> str | None:
        """Return the alembic revision of the knowledge graph, or None when it has no schema."""
        with self._conn.read_only() as cursor:
            cursor.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL")
            (exists,) = cursor.fetchone()
            if not exists:
                return None
            cursor.execute("SELECT version_num FROM alembic_version")
            row = cursor.fetchone()
            return str(row[0]) if row else None

    def ensure_schema(self, *, migrate: bool) -> None:
        """Check that the knowledge graph is at thoth-storages' head; with ``migrate``, bring it there."""
        head = head_revision()
        current = self.revision()
        if current == head:
            return
        if not migrate:
            state = "has no thoth-storages schema" if current is None else f"is at revision {current}"
            raise SchemaError(
                f"{self._conn.description} {state}, the job needs thoth-storages revision {head}; "
                "run with --init-schema to migrate it"
            )
        self._conn.close()  # alembic works on its own connection; don't hold ours open meanwhile
        upgrade_knowledge_graph(to_sqlalchemy_url(self._conn.url))
        self._conn.connect()

    # -- indexes and names ----------------------------------------------------------------------------------

    def register_indexes(self, configs: Iterable[IndexConfig]) -> list[str]:
        """Insert configured indexes that the graph lacks (see update_indexes for the others). Return the new URLs."""
        added: list[str] = []
        with self._conn.transaction() as cursor:
            for index in configs:
                cursor.execute(
                    "INSERT INTO python_package_index"
                    " (url, warehouse_api_url, verify_ssl, enabled, only_if_package_seen)"
                    " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (url) DO NOTHING RETURNING url",
                    (index.url, index.warehouse_api_url, index.verify_ssl, index.enabled, index.only_if_package_seen),
                )
                if cursor.fetchone() is not None:
                    added.append(index.url)
        return added

    def update_indexes(self, configs: Iterable[IndexConfig], *, dry_run: bool = False) -> list[IndexChange]:
        """Apply the settings the configuration writes to registered indexes where they differ; return the changes.

        With ``dry_run`` the changes are only found. Settings the configuration does not write are left alone.
        """
        changes: list[IndexChange] = []
        with self._conn.transaction() as cursor:
            for index in configs:
                keys = [key for key in INDEX_SETTINGS if key in index.written_keys]
                if not keys:
                    continue
                # No row lock: the runs recording on this index hold KEY SHARE locks on its row, which FOR UPDATE
                # would wait for; the UPDATE below (of no key column) does not, and is the same in every run.
                cursor.execute(f"SELECT {', '.join(keys)} FROM python_package_index WHERE url = %s", (index.url,))
                row = cursor.fetchone()
                if row is None:
                    continue
                differing = [
                    IndexChange(index.url, key, old, getattr(index, key))
                    for key, old in zip(keys, row, strict=True)
                    if old != getattr(index, key)
                ]
                if differing and not dry_run:
                    # Column names from INDEX_SETTINGS only; the values are parameters.
                    assignments = ", ".join(f"{change.key} = %s" for change in differing)
                    cursor.execute(
                        f"UPDATE python_package_index SET {assignments} WHERE url = %s",
                        (*(change.new for change in differing), index.url),
                    )
                changes += differing
        return changes

    def indexes(self, *, enabled_only: bool = True) -> list[IndexRow]:
        """Return the registered indexes (only the enabled ones by default), ordered by id."""
        with self._conn.read_only() as cursor:
            cursor.execute(
                "SELECT id, url, warehouse_api_url, verify_ssl, coalesce(enabled, false), only_if_package_seen"
                " FROM python_package_index" + (" WHERE enabled" if enabled_only else "") + " ORDER BY id"
            )
            return [IndexRow(*row) for row in cursor.fetchall()]

    def invalid_rules(self) -> list[EntityRule]:
        """Return the entity rules whose version range is no valid specifier (they apply to nothing), by id."""
        with self._conn.read_only() as cursor:
            cursor.execute(
                "SELECT id, package_name, version_range, python_package_index_id"
                " FROM python_package_version_entity_rule WHERE coalesce(version_range, '') <> '' ORDER BY id"
            )
            return [
                rule
                for rule in (EntityRule(*row) for row in cursor.fetchall())
                if not range_is_valid(rule.version_range)
            ]

    def known_names(self) -> set[str]:
        """Return every package name the knowledge graph holds a version entity for."""
        with self._conn.read_only() as cursor:
            cursor.execute("SELECT DISTINCT package_name FROM python_package_version_entity")
            return {name for (name,) in cursor.fetchall()}

    # -- cursor-level steps of recording a chunk (the caller owns the transaction) ----------------------------

    def known_versions_in(self, cursor: Cursor, index_id: int | None, names: Sequence[str]) -> dict[str, set[str]]:
        """Return, within the caller's transaction, the versions of the given names recorded on an index."""
        known: dict[str, set[str]] = defaultdict(set)
        if index_id is None or not names:
            return known
        cursor.execute(
            "SELECT package_name, package_version FROM python_package_version_entity"
            " WHERE python_package_index_id = %s AND package_name = ANY(%s)",
            (index_id, list(names)),
        )
        for name, version in cursor.fetchall():
            known[name].add(version)
        return known

    def insert_entities(self, cursor: Cursor, index_id: int, releases: Sequence[Release]) -> list[tuple[int, Release]]:
        """Insert version entities of an index; return (entity id, release) of the rows this call created."""
        if not releases:
            return []
        rows = psycopg2.extras.execute_values(
            cursor,
            "INSERT INTO python_package_version_entity (package_name, package_version, python_package_index_id)"
            " VALUES %s ON CONFLICT DO NOTHING RETURNING id, package_name, package_version",
            [(r.package_name, r.package_version, index_id) for r in releases],
            page_size=len(releases),
            fetch=True,
        )
        index_url = releases[0].index_url
        return [(entity_id, Release(name, version, index_url)) for entity_id, name, version in rows]

    def attach_rules(self, cursor: Cursor, index_id: int, inserted: Sequence[tuple[int, Release]]) -> int:
        """Associate newly inserted entities with the entity rules that match them; return the associations made."""
        if not inserted:
            return 0
        names = sorted({release.package_name for _, release in inserted})
        cursor.execute(
            "SELECT id, package_name, version_range, python_package_index_id FROM python_package_version_entity_rule"
            " WHERE package_name = ANY(%s)",
            (names,),
        )
        rules_by_name: dict[str, list[EntityRule]] = defaultdict(list)
        for row in cursor.fetchall():
            rule = EntityRule(*row)
            rules_by_name[rule.package_name].append(rule)
        if not rules_by_name:
            return 0
        pairs = [
            (entity_id, rule_id)
            for entity_id, release in inserted
            for rule_id in matching_rules(
                rules_by_name.get(release.package_name, ()), release.package_name, release.package_version, index_id
            )
        ]
        if pairs:
            psycopg2.extras.execute_values(
                cursor,
                "INSERT INTO python_package_version_entity_rules_association"
                " (python_package_version_entity_id, python_package_version_entity_rule_id) VALUES %s"
                " ON CONFLICT DO NOTHING",
                pairs,
                page_size=len(pairs),
            )
        return len(pairs)

    def artifact_hashes_in(self, cursor: Cursor, index_id: int, names: Sequence[str]) -> dict[str, dict[str, set[str]]]:
        """Return name -> version -> sha256 of the artifacts the graph holds for the given names on an index.

        Read as thoth-storages' ``get_python_package_hashes_sha256`` reads them (``python_artifact`` through
        ``has_artifact``), for a whole chunk at once. Versions without artifacts are absent.
        """
        hashes: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        if not names:
            return hashes
        cursor.execute(
            "SELECT e.package_name, e.package_version, a.artifact_hash_sha256 FROM python_package_version_entity e"
            " JOIN has_artifact h ON h.python_package_version_entity_id = e.id"
            " JOIN python_artifact a ON a.id = h.python_artifact_id"
            " WHERE e.python_package_index_id = %s AND e.package_name = ANY(%s)",
            (index_id, list(names)),
        )
        for name, version, sha256 in cursor.fetchall():
            hashes[name][version].add(sha256)
        return hashes

    def set_missing_in(self, cursor: Cursor, index_id: int, flags: Sequence[tuple[str, str, bool]]) -> None:
        """Set (True) or clear (False) ``python_package_version.is_missing`` of (name, version) on an index.

        What thoth-storages' ``update_missing_flag_package_version`` does, for many versions in one statement:
        every row of the version on the index (one per solved environment) gets the flag. No row is created.
        """
        if not flags:
            return
        psycopg2.extras.execute_values(
            cursor,
            "UPDATE python_package_version p SET is_missing = v.flag"
            " FROM (VALUES %s) AS v (index_id, name, version, flag) WHERE p.python_package_index_id = v.index_id"
            " AND p.package_name = v.name AND p.package_version = v.version AND p.is_missing IS DISTINCT FROM v.flag",
            [(index_id, name, version, flag) for name, version, flag in flags],
            template="(%s::integer, %s::text, %s::text, %s::boolean)",
            page_size=len(flags),
        )
