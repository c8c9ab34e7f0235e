"""A small PostgREST-compatible HTTP server over a real PostgreSQL, for testing the Supabase store.

Why it exists: no PostgREST binary can be installed on this machine, and the Supabase store must
be tested through the real supabase client. So this server implements, faithfully to PostgREST's
documented behaviour, just what the store and the deployment plan's scripts use:

* ``GET /rest/v1/<table>``: ``select=*`` or a column list; filters ``eq neq lt lte gt gte in is``;
  ``order=col[.asc|.desc]``; ``limit``/``offset`` and the ``Range`` header; at most 1,000 rows per
  response (Supabase's default cap); ``Content-Range`` in the reply, with the total number of
  matching rows when asked with ``Prefer: count=exact``.
* ``POST``: insert a JSON object or array; ``on_conflict=col`` with ``Prefer:
  resolution=merge-duplicates`` (upsert) or ``resolution=ignore-duplicates``;
  ``Prefer: return=representation``.
* ``PATCH`` and ``DELETE`` with the same filters.
* Keys map to PostgreSQL roles (anon key → ``anon``, service key → ``service_role``), set per
  request with ``SET LOCAL ROLE``, so row level security is really enforced. Errors come back as
  PostgREST's JSON (``code``, ``message``, ``details``, ``hint``) with PostgREST's status codes.

As strict as PostgREST 13 where the store could be affected (issue 12 item 7):

* a POST honours ``columns=`` (only those columns are written; an object's other keys are
  ignored) and ``Prefer: missing=default`` (a column an object lacks takes its default, not
  NULL); without ``columns``, every object of an array must have the same keys (PGRST102);
* an unknown column is PGRST204 and an unknown table PGRST205 (PostgREST 13's codes; 12 gave
  42703/42P01 for tables);
* rows of a GET without ``order`` come back in a random order, as PostgreSQL may return them;
* ``max_rows`` (PostgREST's ``db-max-rows``) is settable per server;
* in front of it, what Supabase's gateway does: a URL over 8 KB is 414 and a body over 1 MB is
  413 (HTML pages, not PostgREST JSON), ``fail_next`` answers a 5xx HTML page, and
  ``auth_failure`` chooses how an unknown key is refused;
* ``log`` records every request (method, path, query, Range and Prefer headers, body keys and
  size) for the request linter in tests/conftest.py.

Rows are converted by PostgreSQL itself (``json_populate_recordset`` in, ``json_agg`` out), as in
PostgREST, so types, numbers and timestamps behave as they do against a real Supabase project.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import psycopg
from psycopg import sql

MAX_ROWS = 1000
MAX_URL = 8192  # bytes of request line a gateway accepts (Kong/nginx default buffers: 8 KB)
MAX_BODY = 1_000_000  # bytes of body a gateway accepts
GATEWAY_401 = b'{"message":"Invalid API key"}'
HTML_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
OPERATORS = {"eq": "=", "neq": "<>", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}
STATUS = {
    "42501": 401,
    "23505": 409,
    "23503": 409,
    "42P01": 404,
    "42703": 400,
    "22P02": 400,
    "23502": 400,
    "23514": 400,
    "PGRST": 400,
}


class PostgrestServer:
    def __init__(self, database_url: str, keys: dict[str, str], echo_headers: bool = False):
        """``keys``: API key → PostgreSQL role. ``echo_headers``: error messages quote the
        request's headers, as some gateways and debug proxies in front of an API do."""
        self.database_url, self.keys, self.echo_headers = database_url, keys, echo_headers
        self.max_rows = MAX_ROWS  # PostgREST's db-max-rows: a Supabase project may change it
        # who answers a key it does not know: PostgREST itself (401 PGRST301), or Supabase's API
        # gateway in front of it, which answers 401 {"message": "Invalid API key"} without a
        # code for legacy keys ("gateway") and an empty 401 for sb_ keys ("gateway-empty")
        self.auth_failure = "postgrest"
        self.failures: list[int] = []  # status codes to answer next, with an HTML page, in turn
        self.log: list[dict[str, Any]] = []  # every request, for the request linter
        self.requests: list[tuple[str, str]] = []  # (method, path with query), for assertions
        self.traffic: list[tuple[str, str, int, int]] = []  # and bytes in and out, per request
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def fail_next(self, status: int = 502, count: int = 1) -> None:
        """The next ``count`` requests get a gateway's HTML error page with ``status``."""
        self.failures.extend([status] * count)

    def __enter__(self) -> PostgrestServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Error(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class _Handler(BaseHTTPRequestHandler):
    app: PostgrestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        self.app.requests.append((method, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.app.log.append(_entry(method, self.path, self.headers, body))
        gateway = None
        if len(self.requestline.encode()) > MAX_URL:
            gateway = 414
        elif len(body) > MAX_BODY:
            gateway = 413
        elif self.app.failures:
            gateway = self.app.failures.pop(0)
        if gateway is not None:
            self._html(method, body, gateway)
            return
        try:
            role = self._role()
            parts = urlsplit(self.path)
            match = re.fullmatch(r"/rest/v1/(\w+)", parts.path)
            if not match:
                raise _Error(404, "PGRST125", f"invalid path {parts.path}")
            status, payload, headers = _execute(
                self.app.database_url,
                role,
                method,
                match.group(1),
                parse_qsl(parts.query),
                self.headers,
                body,
                self.app.max_rows,
            )
        except _Error as err:
            status, headers = err.status, {}
            if err.code == "PGRST301" and self.app.auth_failure != "postgrest":
                data = b"" if self.app.auth_failure == "gateway-empty" else GATEWAY_401
                self.app.traffic.append((method, self.path, len(body), len(data)))
                self.send_response(401)
                self.send_header("Content-Length", str(len(data)))
                if data:
                    self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(data)
                return
            message = err.message
            if self.app.echo_headers:
                message += f" (request headers: {dict(self.headers.items())})"
            payload = json.dumps(
                {"code": err.code, "message": message, "details": None, "hint": None}
            )
        data = payload.encode()
        self.app.traffic.append((method, self.path, len(body), len(data)))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _html(self, method: str, body: bytes, status: int) -> None:
        from http import HTTPStatus

        data = HTML_PAGE.format(f"{status} {HTTPStatus(status).phrase}").encode()
        self.app.traffic.append((method, self.path, len(body), len(data)))
        self.send_response(status)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _role(self) -> str:
        key = self.headers.get("apikey")
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        for candidate in (bearer, key):
            if candidate in self.app.keys:
                return self.app.keys[candidate]
        raise _Error(401, "PGRST301", "No suitable key or wrong key type")


def _entry(method: str, path: str, headers: Any, body: bytes) -> dict[str, Any]:
    parts = urlsplit(path)
    keys: list[list[str]] = []
    if body:
        try:
            data = json.loads(body)
            objects = data if isinstance(data, list) else [data]
            keys = [sorted(o) for o in objects if isinstance(o, dict)]
        except ValueError:
            pass
    return {
        "method": method,
        "table": parts.path.rsplit("/", 1)[-1],
        "query": parse_qsl(parts.query),
        "url_bytes": len(path.encode()),
        "range": headers.get("Range"),
        "prefer": headers.get("Prefer") or "",
        "body_bytes": len(body),
        "body_keys": keys,
        "client": headers.get("X-Client-Info") or "",  # the supabase client says who it is
    }


def _filters(
    query: list[tuple[str, str]], alias: str | None = None
) -> tuple[sql.Composable, list[Any]]:
    clauses, params = [], []
    for column, expr in query:
        if column in RESERVED:
            continue
        op, _, value = expr.partition(".")
        ident = sql.Identifier(alias, column) if alias else sql.Identifier(column)
        if op in OPERATORS:
            clauses.append(sql.SQL("{} {} %s").format(ident, sql.SQL(OPERATORS[op])))
            params.append(value)
        elif op == "in":
            items = [v.strip('"') for v in value.strip("()").split(",")] if value != "()" else []
            clauses.append(sql.SQL("{} = ANY(%s)").format(ident))
            params.append(items)
        elif op == "is" and value in ("null", "true", "false"):
            clauses.append(sql.SQL("{} IS " + value.upper()).format(ident))
        else:
            raise _Error(400, "PGRST100", f"unsupported filter {column}={expr}")
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses) if clauses else sql.SQL("")
    return where, params


def _order(query: dict[str, str]) -> sql.Composable:
    if "order" not in query:
        return sql.SQL("")
    terms = []
    for term in query["order"].split(","):
        column, *mods = term.split(".")
        direction = "DESC" if "desc" in mods else "ASC"
        nulls = (
            " NULLS FIRST" if "nullsfirst" in mods else " NULLS LAST" if "nullslast" in mods else ""
        )
        terms.append(sql.SQL("{} " + direction + nulls).format(sql.Identifier(column)))
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)


def _columns(query: dict[str, str]) -> sql.Composable:
    select = query.get("select", "*")
    if select == "*":
        return sql.SQL("*")
    return sql.SQL(", ").join(sql.Identifier(c.strip()) for c in select.split(","))


def _window(query: dict[str, str], headers: Any, max_rows: int) -> tuple[int, int]:
    offset = int(query.get("offset", 0))
    limit = int(query["limit"]) if "limit" in query else max_rows
    wanted = headers.get("Range")
    if wanted:
        first, _, last = wanted.partition("-")
        offset, limit = int(first), (int(last) - int(first) + 1) if last else limit
    return offset, min(limit, max_rows)


def _execute(
    url: str,
    role: str,
    method: str,
    table: str,
    pairs: list[tuple[str, str]],
    headers: Any,
    body: bytes,
    max_rows: int = MAX_ROWS,
) -> tuple[int, str, dict[str, str]]:
    query = dict(pairs)
    prefer = headers.get("Prefer") or ""
    target = sql.Identifier(table)
    where, params = _filters(pairs)
    returning = "return=representation" in prefer
    try:
        with psycopg.connect(url) as conn:
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(role)))
            known = _table_columns(conn, table)
            if method == "PATCH":
                _known(json.loads(body or b"{}"), known, table)
            if method == "GET":
                offset, limit = _window(query, headers, max_rows)
                inner = (
                    sql.SQL("SELECT {} FROM {}").format(_columns(query), target)
                    + where
                    + (_order(query) if "order" in query else sql.SQL(" ORDER BY random()"))
                    + sql.SQL(" LIMIT %s OFFSET %s")
                )
                (text,) = conn.execute(
                    sql.SQL("SELECT coalesce(json_agg(t), '[]')::text FROM (")
                    + inner
                    + sql.SQL(") t"),
                    [*params, limit, offset],
                ).fetchone()
                count = len(json.loads(text))
                total = "*"
                if "count=exact" in prefer:  # PostgREST counts every matching row
                    (total,) = conn.execute(
                        sql.SQL("SELECT count(*) FROM {}").format(target) + where, params
                    ).fetchone()
                span = f"{offset}-{offset + count - 1}/{total}" if count else f"*/{total}"
                return 200, text, {"Content-Range": span}
            if method == "POST":
                return _insert(conn, target, table, query, prefer, body, returning, known)
            if method == "PATCH":
                values = json.loads(body)
                sets = sql.SQL(", ").join(
                    sql.SQL("{} = r.{}").format(sql.Identifier(c), sql.Identifier(c))
                    for c in values
                )
                where, params = _filters(pairs, alias="x")
                statement = (
                    sql.SQL("UPDATE {} AS x SET ").format(target)
                    + sets
                    + sql.SQL(" FROM json_populate_record(NULL::{}, %s::json) r").format(target)
                    + where
                )
                return _run(conn, statement, [json.dumps(values), *params], returning, 200, "x.*")
            statement = sql.SQL("DELETE FROM {}").format(target) + where
            return _run(conn, statement, params, returning, 200 if returning else 204)
    except psycopg.OperationalError as err:
        if err.sqlstate is None:  # no database connection: PostgREST answers 503 PGRST001
            raise _Error(
                503, "PGRST001", "Database client error. Retrying the connection."
            ) from None
        raise _Error(STATUS.get(err.sqlstate, 503), err.sqlstate, str(err).strip()) from None
    except psycopg.Error as err:
        state = err.sqlstate or "PGRST"
        raise _Error(STATUS.get(state, 400), state, str(err).strip()) from None


def _table_columns(conn: Any, table: str) -> list[str]:
    """The table's columns; PGRST205 if PostgREST would not know the table."""
    found = conn.execute(
        "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(%s) AND attnum > 0 "
        "AND NOT attisdropped ORDER BY attnum",
        [f"public.{table}"],
    ).fetchall()
    if not found:
        raise _Error(
            404, "PGRST205", f"Could not find the table 'public.{table}' in the schema cache"
        )
    return [name for (name,) in found]


def _known(columns: Any, known: list[str], table: str) -> None:
    for column in columns:
        if column not in known:
            raise _Error(
                400,
                "PGRST204",
                f"Could not find the '{column}' column of '{table}' in the schema cache",
            )


def _insert(
    conn: Any,
    target: sql.Composable,
    table: str,
    query: dict[str, str],
    prefer: str,
    body: bytes,
    returning: bool,
    known: list[str],
) -> tuple[int, str, dict[str, str]]:
    """PostgREST's insert: ``columns=`` names what is written (other keys are ignored),
    otherwise every object must have the first one's keys (PGRST102). A column an object lacks
    is NULL, or its default with ``Prefer: missing=default``."""
    rows = json.loads(body)
    rows = rows if isinstance(rows, list) else [rows]
    if not rows:
        return 201, "[]", {}
    if "columns" in query:
        columns = [c.strip().strip('"') for c in query["columns"].split(",")]
    else:
        columns = list(rows[0])
        if any(set(r) != set(columns) for r in rows):
            raise _Error(400, "PGRST102", "All object keys must match")
    _known(columns, known, table)
    defaults = "missing=default" in prefer
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    values, params = [], []
    for row in rows:
        items = []
        for column in columns:
            if column not in row and defaults:
                items.append(sql.SQL("DEFAULT"))
            else:
                items.append(
                    sql.SQL("(json_populate_record(NULL::{}, %s::json)).{}").format(
                        target, sql.Identifier(column)
                    )
                )
                params.append(json.dumps({column: row.get(column)}))
        values.append(sql.SQL("(") + sql.SQL(", ").join(items) + sql.SQL(")"))
    statement = (
        sql.SQL("INSERT INTO {} (").format(target)
        + cols
        + sql.SQL(") VALUES ")
        + sql.SQL(", ").join(values)
    )
    if "on_conflict" in query and "resolution=" in prefer:
        key = sql.SQL(", ").join(sql.Identifier(c.strip()) for c in query["on_conflict"].split(","))
        if "resolution=ignore-duplicates" in prefer:
            statement += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(key)
        else:
            conflict = {c.strip() for c in query["on_conflict"].split(",")}
            updates = sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in columns
                if c not in conflict
            )
            statement += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET ").format(key) + updates
    return _run(conn, statement, params, returning, 201)


def _run(
    conn: Any,
    statement: sql.Composable,
    params: list[Any],
    returning: bool,
    status: int,
    what: str = "*",
) -> tuple[int, str, dict[str, str]]:
    if not returning:
        conn.execute(statement, params)
        return status, "", {}
    wrapped = (
        sql.SQL("WITH t AS (")
        + statement
        + sql.SQL(f" RETURNING {what}) SELECT coalesce(json_agg(t), '[]')::text FROM t")
    )
    (text,) = conn.execute(wrapped, params).fetchone()
    return status, text, {}
