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
GATEWAY_401 = b'{"message":"Invalid API key"}'
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
        self.requests: list[tuple[str, str]] = []  # (method, path with query), for assertions
        self.traffic: list[tuple[str, str, int, int]] = []  # and bytes in and out, per request
        handler = type("Handler", (_Handler,), {"app": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

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

    def _role(self) -> str:
        key = self.headers.get("apikey")
        bearer = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        for candidate in (bearer, key):
            if candidate in self.app.keys:
                return self.app.keys[candidate]
        raise _Error(401, "PGRST301", "No suitable key or wrong key type")


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
            if method == "GET":
                offset, limit = _window(query, headers, max_rows)
                inner = (
                    sql.SQL("SELECT {} FROM {}").format(_columns(query), target)
                    + where
                    + _order(query)
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
                return _insert(conn, target, table, query, prefer, body, returning)
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


def _insert(
    conn: Any,
    target: sql.Composable,
    table: str,
    query: dict[str, str],
    prefer: str,
    body: bytes,
    returning: bool,
) -> tuple[int, str, dict[str, str]]:
    rows = json.loads(body)
    rows = rows if isinstance(rows, list) else [rows]
    if not rows:
        return 201, "[]", {}
    columns = list(dict.fromkeys(c for r in rows for c in r))
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    statement = (
        sql.SQL("INSERT INTO {} (").format(target)
        + cols
        + sql.SQL(") SELECT ")
        + cols
        + sql.SQL(" FROM json_populate_recordset(NULL::{}, %s::json)").format(target)
    )
    if "on_conflict" in query and "resolution=" in prefer:
        key = sql.Identifier(query["on_conflict"])
        if "resolution=ignore-duplicates" in prefer:
            statement += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(key)
        else:
            updates = sql.SQL(", ").join(
                sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c))
                for c in columns
                if c != query["on_conflict"]
            )
            statement += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET ").format(key) + updates
    return _run(conn, statement, [json.dumps(rows)], returning, 201)


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
