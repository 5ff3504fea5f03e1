"""Dataset access shared by every check: a policy dataset reference → data, a location, a fingerprint.

Engines receive data (or, for SQL push-down, a :class:`SqlSource`), never raw URIs; operators and the
CLI call :func:`load_frame`, :func:`locate` and :func:`fingerprint`. A dataset's ``uri`` may be:

``include/demo/train.parquet``, ``file:///data/train.csv``
    A local Parquet or CSV file. Relative paths are resolved against ``base_dir`` (default: the
    working directory). Format from ``Dataset.format`` or the file suffix. A folder of Parquet files
    (``format: parquet``; Hive partitions such as ``date=2025-03-01/`` become columns) is read by the
    aggregate engine (:mod:`release_gates.aggregates.engine`); its fingerprint covers every file.

``s3://bucket/key.parquet``, ``s3://aws_conn@bucket/key.csv`` (any scheme Airflow's object storage knows)
    Read through :class:`airflow.sdk.ObjectStoragePath` (imported on first use), so credentials come
    from the Airflow connection named in the URI (or the scheme's default connection).

``sql://<conn_id>/<table>``, ``sql://<conn_id>/<schema>.<table>``, ``sql://<conn_id>?query=<SELECT …>``
    A table or query behind an Airflow connection. The connection becomes a SQLAlchemy URL: its extra
    ``sqlalchemy_url`` wins; else ``sqlite`` connections use ``host`` as the database file and
    ``postgres`` connections map host/login/password/port/schema (a host starting with ``/`` is a
    Unix socket directory); any other type asks the connection's hook for ``sqlalchemy_url``.

``sqlite:///path/app.db?table=applications``, ``postgresql+psycopg2://u:p@host/db?table=s.t``
    A SQLAlchemy URL with ``table=`` (optionally ``schema.table``) or ``query=`` (URL-encoded ``SELECT``)
    as query parameters; those two are removed before the URL is handed to SQLAlchemy, every other
    parameter (e.g. ``host=`` for a socket directory) is kept. Any URI with ``format: sql`` is read
    this way too.

Fingerprints (``CheckResult.inputs``): files and objects → sha256 of the bytes. SQL sources →
``sha256`` of the canonical JSON ``{"format": "release-gates-sql-v1", "rows": n, "schema": s, "content":
c}`` where ``s`` is the sha256 of the ``[[column, type], …]`` list (reflected types for tables, driver type
codes for queries) and ``c`` is the sha256 of every row in ``ORDER BY 1, 2, …, n`` order, one compact JSON
array per line (floats as ``repr``, decimals and dates as strings). It is deterministic for a given
backend and independent of physical row order; it reads every row once, streamed in batches, so the
worker never holds the table. Pins are per backend: the same rows in SQLite and PostgreSQL differ in type
names and therefore in digest.

pandas, SQLAlchemy engines and Airflow are imported inside the functions: operators import this module
at DAG parse time.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from release_gates.exceptions import DatasetError

if TYPE_CHECKING:
    import pandas as pd

    from release_gates.policy import Dataset


#: Resolves an Airflow connection id to a SQLAlchemy URL (injectable for use without Airflow).
ConnectionResolver = Callable[[str], str]

SQL_FINGERPRINT_FORMAT = "release-gates-sql-v1"
FOLDER_FINGERPRINT_FORMAT = "release-gates-folder-v1"

# URL schemes read as SQLAlchemy URLs (the dialect part before any "+driver").
_SQL_DIALECTS = frozenset(
    {
        "sql",
        "sqlite",
        "postgresql",
        "postgres",
        "mysql",
        "mariadb",
        "mssql",
        "oracle",
        "snowflake",
        "bigquery",
        "redshift",
        "duckdb",
        "trino",
    }
)
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_IDENTIFIER_PART = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


# --------------------------------------------------------------------------------------------------
# Locations
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlSource:
    """A table or query in a database, reachable through a SQLAlchemy URL."""

    url: str
    table: str | None = None
    schema: str | None = None
    query: str | None = None

    @property
    def display_url(self) -> str:
        """The URL with any password masked: safe for messages, logs and evidence."""
        return mask_password(self.url)

    @property
    def relation(self) -> str:
        if self.query is not None:
            return "query"
        return f"{self.schema}.{self.table}" if self.schema else str(self.table)


@dataclass(frozen=True)
class DatasetLocation:
    """Where a dataset lives, resolved from its policy URI (see the module docstring)."""

    name: str
    uri: str
    kind: Literal["file", "object", "sql"]
    format: str
    path: Path | None = None
    sql: SqlSource | None = None

    @property
    def display(self) -> str:
        if self.sql is not None:
            return f"{self.sql.display_url} ({self.sql.relation})"
        return str(self.path) if self.path is not None else mask_password(self.uri)


def mask_password(url: str) -> str:
    """``url`` with any password (and password-like query parameter) replaced by ``***``.

    Safe for messages, logs and evidence. The password ends at the last ``@`` that is followed by a
    host, so a raw ``/``, ``#``, ``:`` or ``@`` in it leaves nothing behind. Database URLs whose
    password SQLAlchemy reads the same way are rendered by SQLAlchemy (``make_url``), as the driver
    will see them.
    """
    scheme = _scheme(url)
    if scheme is None:
        return url
    split = _split_userinfo(url, scheme)
    if split is None:
        return _mask_query_secrets(url)
    head, user, password, host = split
    if scheme.split("+", 1)[0] in _SQL_DIALECTS and scheme != "sql":
        from sqlalchemy.engine import make_url

        try:
            parsed = make_url(url)
        except Exception:
            parsed = None
        if parsed is not None and parsed.password == unquote(password):
            return _mask_query_secrets(parsed.render_as_string(hide_password=True))
    return _mask_query_secrets(f"{head}{user}:***@{host}")


def mask_password_in_text(url: str) -> str:
    """``url`` with its password and password-like query values replaced by ``***`` and every other
    character kept as written — for a URL inside text that must still parse (a recorded policy file):
    nothing is re-encoded, so a trailing ``,`` of a YAML flow mapping stays a ``,``."""
    scheme = _scheme(url)
    if scheme is None:
        return url
    split = _split_userinfo(url, scheme)
    if split is not None:
        head, user, _password, host = split
        url = f"{head}{user}:***@{host}"
    return _QUERY_SECRET.sub(lambda m: f"{m['key']}***", url)


# A host (name, IPv4 or [IPv6]) with an optional port, then the end, a path, a query or a fragment.
_HOST_AFTER_AT = re.compile(r"^(?:\[[^\]/]*\]|[A-Za-z0-9._~%!$&'()*+,;=-]*)(?::\d*)?(?:[/?#]|$)")
_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "secret", "token", "sslpassword", "api_key"})
# The same keys' values in a URL written in text (mask_password_in_text): up to the next & # or space.
_QUERY_SECRET = re.compile(
    rf"(?P<key>[?&](?:{'|'.join(sorted(_SECRET_QUERY_KEYS))})=)[^&#\s]*", re.IGNORECASE
)


def _split_userinfo(url: str, scheme: str) -> tuple[str, str, str, str] | None:
    """``(scheme://, user, password, host…)`` when the URL carries a password, else None."""
    head = url[: len(scheme) + 3]
    rest = url[len(head) :]
    for index in reversed([i for i, char in enumerate(rest) if char == "@"]):
        if _HOST_AFTER_AT.match(rest[index + 1 :]):
            user, colon, password = rest[:index].partition(":")
            # No colon: a user name or an Airflow connection id (s3://aws_conn@bucket/…), no secret.
            return (head, user, password, rest[index + 1 :]) if colon else None
    return None


def _mask_query_secrets(url: str) -> str:
    base, question, query = url.partition("?")
    if not question:
        return url
    fragment = ""
    if "#" in query:
        query, _, fragment = query.partition("#")
        fragment = "#" + fragment
    params = parse_qsl(query, keep_blank_values=True)
    if not any(k.lower() in _SECRET_QUERY_KEYS for k, _ in params):
        return url
    kept = [(k, "***" if k.lower() in _SECRET_QUERY_KEYS else v) for k, v in params]
    return f"{base}?{urlencode(kept, safe='*/')}{fragment}"


def describe_error(exc: BaseException) -> str:
    """One line about a third-party exception, without the data values its message may quote."""
    text = scrub_values(str(exc))
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def describe_failure(exc: BaseException) -> str:
    """One line for an ERROR result: our own errors as written (they name what and where and carry
    no cell values), anything else through :func:`describe_error`."""
    from release_gates.exceptions import ReleaseGatesError

    if isinstance(exc, ReleaseGatesError):
        return f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return describe_error(exc)


def scrub_values(text: str, *, limit: int = 300) -> str:
    """``text`` on one line with quoted literals, row details and URL passwords removed.

    Parsers and drivers put the offending cell in their messages ("could not convert string to
    float: 'x'", 'invalid input syntax for type integer: "x"', "DETAIL: Failing row contains (…)").
    Quoted literals become ``<value>`` and anything from a ``DETAIL``/``Failing row`` marker on is cut,
    so the kind of problem stays and the value does not.
    """
    text = " ".join(text.split())
    text = re.split(r"\b(?:DETAIL|Failing row contains|HINT)\b", text, maxsplit=1)[0].rstrip(" :;.")
    text = _URL_IN_TEXT.sub(lambda match: mask_password(match.group(0)), text)
    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", "<value>", text)
    return text[:limit]


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")


def local_path(uri: str, *, base_dir: str | Path | None = None) -> Path:
    """The file path of a local URI (``file://…`` or a plain path, relative to ``base_dir``)."""
    path = Path(uri.removeprefix("file://"))
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def _scheme(uri: str) -> str | None:
    match = _SCHEME.match(uri)
    return match.group(1).lower() if match else None


def is_sql_uri(uri: str, fmt: str | None = None) -> bool:
    scheme = _scheme(uri)
    if fmt == "sql":
        return True
    return scheme is not None and scheme.split("+", 1)[0] in _SQL_DIALECTS


def locate(
    name: str,
    dataset: Dataset,
    *,
    base_dir: str | Path | None = None,
    resolve_connection: ConnectionResolver | None = None,
) -> DatasetLocation:
    """Resolve a dataset's URI; a ``sql://`` connection is looked up here (missing → DatasetError)."""
    uri = dataset.uri
    scheme = _scheme(uri)
    if is_sql_uri(uri, dataset.format):
        return DatasetLocation(
            name=name, uri=uri, kind="sql", format="sql", sql=_sql_source(name, uri, resolve_connection)
        )
    if scheme is not None and scheme not in ("file", "local"):
        suffix = Path(urlsplit(uri).path).suffix
        return DatasetLocation(name=name, uri=uri, kind="object", format=_file_format(name, dataset, suffix))
    path = local_path(uri.removeprefix("local://"), base_dir=base_dir)
    return DatasetLocation(
        name=name, uri=uri, kind="file", format=_file_format(name, dataset, path.suffix), path=path
    )


def _file_format(name: str, dataset: Dataset, suffix: str) -> str:
    fmt = dataset.format or suffix.lstrip(".").lower()
    if fmt not in ("parquet", "csv"):
        raise DatasetError(
            f"dataset {name!r} ({mask_password(dataset.uri)}): unsupported format {fmt or 'unknown'!r} "
            "(parquet, csv, or a SQL table)"
        )
    return fmt


def _sql_source(name: str, uri: str, resolve_connection: ConnectionResolver | None) -> SqlSource:
    parts = urlsplit(uri)
    params = parse_qsl(parts.query, keep_blank_values=True)
    table = next((v for k, v in params if k == "table"), None)
    query = next((v for k, v in params if k == "query"), None)
    kept = [(k, v) for k, v in params if k not in ("table", "query")]
    if (parts.scheme or "").lower() == "sql":
        conn_id = unquote(parts.netloc)
        if not conn_id:
            raise DatasetError(
                f"dataset {name!r} ({mask_password(uri)}): sql:// URI needs a connection id: "
                "sql://<conn_id>/<table>"
            )
        path_table = unquote(parts.path.lstrip("/")) or None
        table = table or path_table
        resolver = resolve_connection or airflow_connection_url
        try:
            url = resolver(conn_id)
        except DatasetError:
            raise
        except Exception as exc:
            raise DatasetError(
                f"dataset {name!r}: connection {conn_id!r} is not usable: {describe_error(exc)}"
            ) from None
    else:
        # Rebuilt by hand: urlunsplit would drop the empty authority of sqlite:////abs/path.db.
        base = uri.partition("?")[0]
        url = f"{base}?{urlencode(kept)}" if kept else base
    if (table is None) == (query is None):
        raise DatasetError(
            f"dataset {name!r} ({mask_password(uri)}): a SQL dataset needs exactly one of a table "
            "(sql://<conn>/<table> or ?table=) or a query (?query=SELECT …)"
        )
    schema = None
    if table is not None:
        schema, _, table = table.rpartition(".")
        schema = schema or None
        for part in (schema, table):
            if part is not None and not _IDENTIFIER_PART.match(part):
                raise DatasetError(f"dataset {name!r}: {part!r} is not a plain SQL table or schema name")
    return SqlSource(url=url, table=table, schema=schema, query=query)


def airflow_connection_url(conn_id: str) -> str:
    """SQLAlchemy URL of an Airflow connection (see the module docstring for the mapping)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException as exc:
        raise DatasetError(f"connection {conn_id!r} does not exist") from exc
    extra = conn.extra_dejson
    if explicit := extra.get("sqlalchemy_url") or extra.get("url"):
        return str(explicit)
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        return f"sqlite:///{conn.host or conn.schema}"
    if conn_type in ("postgres", "postgresql"):
        auth = ""
        if conn.login:
            auth = quote(conn.login, safe="")
            if conn.password:
                auth += ":" + quote(conn.password, safe="")
            auth += "@"
        host = conn.host or ""
        database = conn.schema or "postgres"
        if host.startswith("/"):  # a Unix socket directory goes in the query string
            return f"postgresql+psycopg2://{auth}/{database}?host={quote(host)}"
        port = f":{conn.port}" if conn.port else ""
        return f"postgresql+psycopg2://{auth}{host}{port}/{database}"
    hook = conn.get_hook()  # type: ignore[no-untyped-call]
    url = getattr(hook, "sqlalchemy_url", None)
    if url is None:
        raise DatasetError(f"connection {conn_id!r} of type {conn_type!r} has no SQLAlchemy URL")
    render = getattr(url, "render_as_string", None)
    return str(render(hide_password=False) if render else url)


# --------------------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------------------


def file_sha256(path: Path, *, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def fingerprint(
    name: str,
    dataset: Dataset,
    *,
    base_dir: str | Path | None = None,
    resolve_connection: ConnectionResolver | None = None,
    location: DatasetLocation | None = None,
) -> dict[str, Any]:
    """The dataset's content fingerprint, for ``CheckResult.inputs``.

    Files and objects: ``{"uri", "sha256", "bytes"}``. SQL: ``{"uri", "sha256", "rows", "columns",
    "schema_sha256", "content_sha256", "method"}`` (the URI with any password masked).
    """
    loc = location or locate(name, dataset, base_dir=base_dir, resolve_connection=resolve_connection)
    if loc.kind == "sql":
        assert loc.sql is not None
        return {"uri": mask_password(dataset.uri), **sql_fingerprint(name, loc.sql)}
    if loc.kind == "object":
        return {"uri": mask_password(dataset.uri), **_object_fingerprint(name, dataset.uri)}
    assert loc.path is not None
    if loc.path.is_dir():
        return {"uri": dataset.uri, **folder_fingerprint(name, loc.path)}
    try:
        return {"uri": dataset.uri, "sha256": file_sha256(loc.path), "bytes": loc.path.stat().st_size}
    except OSError as exc:
        raise DatasetError(f"dataset {name!r} ({loc.path}): cannot read: {exc.strerror}") from exc


def object_path(name: str, uri: str) -> Any:
    """The ``ObjectStoragePath`` of an object URI (its ``fs`` is the fsspec filesystem Airflow resolved)."""
    return _object_path(name, uri)


def arrow_filesystem(name: str, uri: str) -> tuple[Any, str]:
    """A pyarrow filesystem and the path in it for an object URI (for scans that stream batches).

    ``s3://[conn_id@]bucket/key`` uses pyarrow's native S3 client with the credentials, region and
    ``endpoint_url`` of the Airflow AWS connection (default ``aws_default``); any other scheme wraps
    the fsspec filesystem Airflow's ``ObjectStoragePath`` resolves for it.
    """
    parts = urlsplit(uri)
    if parts.scheme.lower() in ("s3", "s3a"):
        from pyarrow.fs import S3FileSystem

        conn_id = unquote(parts.username or "") or "aws_default"
        try:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

            hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3")
            credentials = hook.get_credentials()
            endpoint = hook.conn_config.endpoint_url
            filesystem = S3FileSystem(
                access_key=credentials.access_key,
                secret_key=credentials.secret_key,
                session_token=credentials.token,
                region=hook.region_name or "us-east-1",
                endpoint_override=endpoint,
                scheme=urlsplit(endpoint).scheme if endpoint else "https",
            )
        except Exception as exc:
            raise DatasetError(
                f"dataset {name!r} ({mask_password(uri)}): no S3 access through connection {conn_id!r}: "
                f"{describe_error(exc)}"
            ) from None
        return filesystem, f"{parts.hostname or ''}{parts.path}"
    from pyarrow.fs import FSSpecHandler, PyFileSystem

    path = _object_path(name, uri)
    return PyFileSystem(FSSpecHandler(path.fs)), str(path.path)


def folder_fingerprint(name: str, folder: Path) -> dict[str, Any]:
    """A folder of Parquet files (Hive partitions): sha256 of the canonical JSON
    ``{"format": "release-gates-folder-v1", "files": [[relative path, sha256, bytes], …]}`` in path order,
    so a pin covers every file, its name (partition values live in names) and nothing else."""
    try:
        files = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
        listing = [[p.relative_to(folder).as_posix(), file_sha256(p), p.stat().st_size] for p in files]
    except OSError as exc:
        raise DatasetError(f"dataset {name!r} ({folder}): cannot read: {exc.strerror}") from exc
    envelope = {"format": FOLDER_FINGERPRINT_FORMAT, "files": listing}
    digest = hashlib.sha256(json.dumps(envelope, separators=(",", ":")).encode()).hexdigest()
    return {"sha256": digest, "bytes": sum(item[2] for item in listing), "files": len(listing)}


def _object_path(name: str, uri: str) -> Any:
    from airflow.sdk import ObjectStoragePath

    try:
        return ObjectStoragePath(uri)
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r} ({mask_password(uri)}): no object storage for it: {describe_error(exc)}"
        ) from None


def _object_fingerprint(name: str, uri: str, *, chunk_size: int = 1 << 20) -> dict[str, Any]:
    filesystem, path = arrow_filesystem(name, uri)
    digest = hashlib.sha256()
    size = 0
    try:
        with filesystem.open_input_stream(path) as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
                size += len(chunk)
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r} ({mask_password(uri)}): cannot read: {describe_error(exc)}"
        ) from None
    return {"sha256": digest.hexdigest(), "bytes": size}


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


def _sql_select(source: SqlSource) -> Any:
    """A ``SELECT *`` over the table or the query, as a SQLAlchemy selectable (identifiers quoted)."""
    import sqlalchemy as sa

    if source.query is not None:
        return sa.select(sa.text("*")).select_from(sa.text(f"({source.query}) AS rg_source"))
    return sa.select(sa.text("*")).select_from(sa.table(str(source.table), schema=source.schema))


def sql_engine(name: str, source: SqlSource) -> Any:
    import sqlalchemy as sa

    try:
        return sa.create_engine(source.url)
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r} ({source.display_url}): bad database URL: {describe_error(exc)}"
        ) from None


def sql_fingerprint(name: str, source: SqlSource, *, batch_rows: int = 10_000) -> dict[str, Any]:
    """Row count, schema and ordered-content digest of a SQL table or query (module docstring)."""
    import sqlalchemy as sa

    engine = sql_engine(name, source)
    try:
        with engine.connect() as conn:
            columns = _sql_columns(name, conn, source)
            order = ", ".join(str(i) for i in range(1, len(columns) + 1))
            statement = sa.text(f"{_compiled(_sql_select(source), conn)} ORDER BY {order}")
            content = hashlib.sha256()
            rows = 0
            result = conn.execution_options(stream_results=True, yield_per=batch_rows).execute(statement)
            for partition in result.partitions(batch_rows):
                for row in partition:
                    line = json.dumps(
                        list(row), default=_canonical, separators=(",", ":"), ensure_ascii=False
                    )
                    content.update(line.encode("utf-8"))
                    content.update(b"\n")
                    rows += 1
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r} ({source.display_url}, {source.relation}): cannot read: {describe_error(exc)}"
        ) from None
    finally:
        engine.dispose()
    schema_sha = hashlib.sha256(json.dumps(columns, separators=(",", ":")).encode()).hexdigest()
    envelope = {
        "format": SQL_FINGERPRINT_FORMAT,
        "rows": rows,
        "schema": schema_sha,
        "content": content.hexdigest(),
    }
    digest = hashlib.sha256(json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return {
        "sha256": digest,
        "rows": rows,
        "columns": [c[0] for c in columns],
        "schema_sha256": schema_sha,
        "content_sha256": content.hexdigest(),
        "method": SQL_FINGERPRINT_FORMAT,
    }


def _compiled(selectable: Any, conn: Any) -> str:
    return str(selectable.compile(conn, compile_kwargs={"literal_binds": True}))


def _sql_columns(name: str, conn: Any, source: SqlSource) -> list[list[str]]:
    import sqlalchemy as sa

    if source.table is not None:
        inspector = sa.inspect(conn)
        if not inspector.has_table(source.table, schema=source.schema):
            raise DatasetError(
                f"dataset {name!r}: table {source.relation!r} does not exist in {source.display_url}"
            )
        return [
            [c["name"], str(c["type"])] for c in inspector.get_columns(source.table, schema=source.schema)
        ]
    probe = conn.execute(sa.text(f"{_compiled(_sql_select(source), conn)} LIMIT 0"))
    description = probe.cursor.description if probe.cursor is not None else []
    probe.close()
    return [[str(d[0]), str(d[1])] for d in description]


# --------------------------------------------------------------------------------------------------
# Frames
# --------------------------------------------------------------------------------------------------


def load_frame(
    name: str,
    dataset: Dataset,
    *,
    columns: list[str] | None = None,
    base_dir: str | Path | None = None,
    resolve_connection: ConnectionResolver | None = None,
    location: DatasetLocation | None = None,
) -> pd.DataFrame:
    """Read a dataset into a DataFrame; missing columns and unreadable sources raise :class:`DatasetError`."""
    loc = location or locate(name, dataset, base_dir=base_dir, resolve_connection=resolve_connection)
    if loc.kind == "sql":
        assert loc.sql is not None
        frame = _read_sql(name, loc.sql)
    elif loc.kind == "object":
        frame = _read_object(name, loc, columns)
    else:
        frame = _read_file(name, loc, columns)
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DatasetError(
                f"dataset {name!r}: missing column(s) {', '.join(map(repr, missing))} "
                f"(has: {', '.join(map(str, frame.columns[:20]))})"
            )
        frame = frame[columns]
    return frame


def _parse(name: str, where: str, fmt: str, source: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """Parse a Parquet or CSV source; with ``columns``, only those present are read (the caller reports
    missing ones), so a check that needs three columns of a wide table does not load the rest."""
    import pandas as pd

    try:
        if fmt == "parquet":
            from release_gates.parquet import read_parquet_frame

            return read_parquet_frame(source, columns)
        if columns:
            wanted = set(columns)
            return pd.read_csv(source, usecols=lambda column: column in wanted)
        return pd.read_csv(source)
    except Exception as exc:
        raise DatasetError(f"dataset {name!r} ({where}): unreadable {fmt}: {describe_error(exc)}") from None


def _read_file(name: str, loc: DatasetLocation, columns: list[str] | None = None) -> pd.DataFrame:
    assert loc.path is not None
    if not loc.path.is_file():
        raise DatasetError(f"dataset {name!r}: file not found: {loc.path}")
    return _parse(name, str(loc.path), loc.format, loc.path, columns)


def _read_object(name: str, loc: DatasetLocation, columns: list[str] | None = None) -> pd.DataFrame:
    import io

    path = _object_path(name, loc.uri)
    try:
        with path.open("rb") as handle:
            payload = handle.read()
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r} ({mask_password(loc.uri)}): cannot read: {describe_error(exc)}"
        ) from None
    source = payload if loc.format == "parquet" else io.BytesIO(payload)
    return _parse(name, mask_password(loc.uri), loc.format, source, columns)


def _read_sql(name: str, source: SqlSource) -> pd.DataFrame:
    import pandas as pd

    engine = sql_engine(name, source)
    try:
        with engine.connect() as conn:
            if source.table is not None:
                _sql_columns(name, conn, source)  # a clear "does not exist" instead of a driver error
            return pd.read_sql_query(_sql_select(source), conn)
    except DatasetError:
        raise
    except Exception as exc:
        raise DatasetError(
            f"dataset {name!r} ({source.display_url}, {source.relation}): cannot read: {describe_error(exc)}"
        ) from None
    finally:
        engine.dispose()
