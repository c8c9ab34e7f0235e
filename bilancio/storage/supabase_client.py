"""``get_supabase_client()``, as bilancio 0.1's scripts import it.

Credentials come only from the environment: ``BILANCIO_SUPABASE_URL`` with
``BILANCIO_SUPABASE_SERVICE_KEY`` (read and write) or ``BILANCIO_SUPABASE_ANON_KEY`` (read only).
"""

from __future__ import annotations

import os
from typing import Any

from bilancio.storage import StoreError


def credentials(write: bool = False) -> tuple[str, str, str]:
    """(url, key, which) from the environment; an error names what is missing, never a value."""
    url = os.environ.get("BILANCIO_SUPABASE_URL")
    service = os.environ.get("BILANCIO_SUPABASE_SERVICE_KEY")
    anon = os.environ.get("BILANCIO_SUPABASE_ANON_KEY")
    if not url:
        raise StoreError(
            "BILANCIO_SUPABASE_URL is not set: Supabase's project and key come from the "
            "environment only (BILANCIO_SUPABASE_URL with BILANCIO_SUPABASE_SERVICE_KEY to "
            "write, or BILANCIO_SUPABASE_ANON_KEY to read)"
        )
    if service:
        return url, service, "service"
    if write:
        raise StoreError(
            "writing to Supabase needs BILANCIO_SUPABASE_SERVICE_KEY (the anon key can only read)"
        )
    if anon:
        return url, anon, "anon"
    raise StoreError("set BILANCIO_SUPABASE_SERVICE_KEY or BILANCIO_SUPABASE_ANON_KEY")


def get_supabase_client(write: bool = False) -> Any:
    """A supabase client for the project in the environment (service key preferred)."""
    from bilancio.extras import require

    require("supabase", "cloud", "the Supabase store")
    from supabase import ClientOptions, create_client
    from supabase._sync.client import SupabaseException

    url, key, _ = credentials(write)
    # the store retries every request itself (SupabaseStore._call); postgrest-py's own retries
    # of GETs (1 + 2 + 4 s on a 503) inside each of those attempts would make the documented
    # six seconds of backoff about a minute
    options = ClientOptions(postgrest_client_retry=False)
    try:
        return create_client(url, key, options=options)
    except SupabaseException as err:  # "Invalid URL", "Invalid API key": never echo the value
        raise StoreError(
            f"cannot use the Supabase project in the environment: {err.message} — "
            "BILANCIO_SUPABASE_URL must look like https://<project>.supabase.co, and the key "
            "must be the project's API key"
        ) from None
