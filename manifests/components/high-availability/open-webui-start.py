"""Open WebUI's start when replicas share one Postgres (components/high-availability).

Open WebUI migrates its database when `open_webui.config` is imported, with no lock: replicas
starting together on a new database race to create the same tables and the loser crashes. So each
replica, before the image's own start.sh:

1. resolves the database as Open WebUI does, through its own engines (DATABASE_URL in every form it
   accepts, or the split DATABASE_TYPE/USER/PASSWORD/HOST/PORT/NAME variables), and connects with
   each engine it will use: sync (psycopg2), async (psycopg 3), the pgvector store, and Redis.
   What may pass is retried for a while (the database starting, this pod's NetworkPolicy not yet
   programmed); what will not (a malformed URL, a wrong password, TLS refused or unverifiable)
   stops at once with what to change, in the log and the pod's termination message;
2. migrates while holding a transaction-level advisory lock: a transaction keeps its server
   connection through a transaction-mode pooler (PgBouncer, Supabase's and Neon's poolers), where
   a session-level lock would be taken on one server connection and released on another;
3. writes the settings the manifests own (the LiteLLM connection, the embedding model and its
   connection, retrieval on or off) over whatever is stored;
4. sizes pgvector's table to the embedding model's dimension (PGVECTOR_INITIALIZE_MAX_VECTOR_LENGTH)
   when it is still empty: Open WebUI fixes the size when it creates the table and refuses to start
   on a mismatch, and releases before retrieval created it at 1536 (Open WebUI's default) unused;
   then creates pgvector's table and indexes, still under the lock (Open WebUI would race to);
5. execs start.sh.

`--check` stops after step 1 and prints what it resolved as one JSON line (the tests' table of
URL forms). The image's working directory (/app/backend) holds the `open_webui` package.
"""

import json
import os
import re
import sys
import time
from typing import NoReturn

RETRY_SECONDS = 60
LOCK_WAIT_SECONDS = 240  # below the startup probe's 300 s: a stuck lock is reported, not killed
LOCK_KEY = "open-webui-migrations"  # the key of the earlier session-level lock: both exclude each other

# A connection error containing one of these will not pass by waiting: stop with the hint.
PERMANENT = [
    ("root certificate file", "sslrootcert names a file that is not in the container: mount the CA (a ConfigMap or Secret) at that path"),
    ("password authentication failed", "the database refused the user or password: check DATABASE_URL in Secret open-webui-datastores"),
    ("does not exist", "the database or role named in DATABASE_URL does not exist on the server"),
    ("no encryption", "the server accepts only TLS connections: add ?sslmode=verify-full&sslrootcert=<CA file> (or sslmode=require) to DATABASE_URL"),
    ("server does not support SSL", "DATABASE_URL asks for TLS but the server offers none: remove sslmode/ssl or enable TLS on the server"),
    ("certificate verify failed", "the server's certificate is not signed by the CA the URL names (or the system's): mount the provider's CA and name it in the URL (Postgres: sslrootcert=, Redis: ssl_ca_certs=)"),
    ("does not match host name", "the server's certificate is for another host name: use the host name it was issued for (or sslmode=verify-ca)"),
    ("invalid sslmode", "sslmode must be one of disable, allow, prefer, require, verify-ca, verify-full"),
    ("invalid connection option", "DATABASE_URL carries a query parameter libpq does not know"),
    ("invalid uri query parameter", "DATABASE_URL carries a query parameter libpq does not know"),
    ("invalid integer value", "the port in DATABASE_URL is not a number"),
    ("authentication required", "Redis asks for a password: put it in REDIS_URL (redis://:PASSWORD@host:port/0)"),
    ("invalid username-password", "Redis refused the password in REDIS_URL"),
    ("wrongpass", "Redis refused the password in REDIS_URL"),
    ("wrong version number", "the Redis port does not speak TLS: use redis:// for it, or the provider's TLS port with rediss://"),
    ("noauth", "Redis asks for a password: put it in REDIS_URL (redis://:PASSWORD@host:port/0)"),
]


def scrub(message: str) -> str:
    """No password in a driver's error (it may quote the URL it was given): all this program prints of one."""
    message = re.sub(r"(://[^:/@\s]*:)[^@\s]+@", r"\1***@", message)
    # and the passwords themselves, wherever a malformed URL put them
    urls = " ".join(os.environ.get(k, "") for k in ("DATABASE_URL", "REDIS_URL", "WEBSOCKET_REDIS_URL", "PGVECTOR_DB_URL"))
    passwords = set(re.findall(r":([^:@/\s]+)@", urls)) | {os.environ.get("DATABASE_PASSWORD", "")}
    for password in sorted(passwords - {""}, key=len, reverse=True):
        message = message.replace(password, "***")
    return message


def say(message: str) -> None:
    print(f"chat-stack start: {message}", flush=True)


def fail(message: str) -> NoReturn:
    """Stop with one clear line: in the log and where `kubectl describe pod` shows it."""
    print(f"chat-stack start: error: {message}", file=sys.stderr, flush=True)
    try:
        with open("/dev/termination-log", "w") as f:
            f.write(message)
    except OSError:
        pass
    sys.exit(1)


def first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    text = str(cause).strip() or type(cause).__name__
    return scrub(text.splitlines()[0])


def hint_for(error: BaseException) -> "str | None":
    text = str(getattr(error, "orig", None) or error).lower()
    return next((hint for needle, hint in PERMANENT if needle in text), None)


def with_retries(what: str, attempt):
    """attempt() until it succeeds; stop at once on a permanent error, after RETRY_SECONDS on others."""
    deadline = time.monotonic() + RETRY_SECONDS
    while True:
        try:
            return attempt()
        except Exception as e:  # the drivers' errors have no common base worth naming
            hint = hint_for(e)
            if hint:
                fail(f"{what}: {first_line(e).rstrip('.')}. {hint}")
            if time.monotonic() > deadline:
                fail(f"{what}: still failing after {RETRY_SECONDS} s: {first_line(e)}")
            say(f"waiting for {what}: {first_line(e)}")
            time.sleep(1)


def resolve():
    """Open WebUI's own engines, built from the environment exactly as the app builds them."""
    sys.path.insert(0, os.getcwd())
    try:
        from open_webui import env
        from open_webui.internal import db
    except Exception as e:
        fail(f"Open WebUI cannot read its database settings: {first_line(e)}. DATABASE_URL must look like postgresql://USER:PASSWORD@HOST:5432/DB?sslmode=require")
    if db.engine.dialect.name != "postgresql":
        fail(f"this Deployment needs Postgres, but the database resolves to {db.engine.dialect.name}: set DATABASE_URL in Secret open-webui-datastores")
    # pgvector builds its own engine from the raw PGVECTOR_DB_URL (by default DATABASE_URL as given),
    # so a form the main engine normalises (?ssl=require) would fail there: hand it the normalised one.
    if os.environ.get("VECTOR_DB") == "pgvector" and os.environ.get("PGVECTOR_DB_URL", env.DATABASE_URL) == env.DATABASE_URL:
        os.environ["PGVECTOR_DB_URL"] = db.engine.url.render_as_string(hide_password=False)
    return env, db


def check_connections(env, db) -> dict:
    import asyncio

    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    shown = db.engine.url.render_as_string(hide_password=True)
    probe = text("SELECT current_setting('server_version'), coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)")

    def sync():
        with db.engine.connect() as c:
            return c.execute(probe).one()

    version, ssl = with_retries(f"the database ({shown})", sync)

    async def run_async():
        async with db.async_engine.connect() as c:
            return (await c.execute(probe)).one()

    with_retries(f"the database through the async driver ({shown})", lambda: asyncio.run(run_async()))
    report = {"database": shown, "serverVersion": version, "tls": bool(ssl)}

    if os.environ.get("VECTOR_DB") == "pgvector":
        engine = create_engine(os.environ["PGVECTOR_DB_URL"], poolclass=NullPool)

        def vector():
            with engine.connect() as c:
                return c.execute(probe).one()

        with_retries(f"the vector store ({engine.url.render_as_string(hide_password=True)})", vector)
        report["vectorStore"] = "pgvector"

    urls = {u for u in (env.REDIS_URL, os.environ.get("WEBSOCKET_REDIS_URL", "")) if u}
    for url in sorted(urls):
        import redis

        def ping(url=url):
            client = redis.Redis.from_url(url, socket_connect_timeout=5)
            try:
                return client.ping()
            finally:
                client.close()

        with_retries(f"Redis ({url.split('@')[-1]})", ping)
    report["redis"] = len(urls)
    return report


def migrate_and_own_settings(db) -> None:
    from sqlalchemy import text

    started = time.monotonic()
    with db.engine.connect() as conn:
        waited = False
        while True:
            trans = conn.begin()
            if conn.execute(text("SELECT pg_try_advisory_xact_lock(hashtext(:k))"), {"k": LOCK_KEY}).scalar():
                break
            trans.rollback()
            if time.monotonic() - started > LOCK_WAIT_SECONDS:
                fail(
                    f"another replica has held the migration lock for {LOCK_WAIT_SECONDS} s. If none is migrating, "
                    "a session still holds it: SELECT pid FROM pg_locks WHERE locktype = 'advisory' shows which"
                )
            if not waited:
                say("another replica is migrating; waiting for it")
                waited = True
            time.sleep(1)
        say("holding the migration lock")
        import open_webui.config  # runs the migrations

        # The manifests own the LiteLLM connection: its URL and the key from the Secret are written
        # over whatever an admin or an earlier boot stored (every replica reads the config table on
        # use), so after a rollout it is the Secret's. Every other setting stays the admin panel's:
        # stored values are kept, missing ones seeded from the environment.
        import asyncio

        from open_webui.models.config import Config

        # The embedding model belongs with them: its dimension sizes the vector table, and each
        # replica builds its query embedder once, at start, so a model changed in the admin panel
        # would embed documents and questions with different models until every replica restarted.
        owned = (
            "openai.enable",
            "openai.api_base_urls",
            "openai.api_keys",
            "rag.bypass_embedding_and_retrieval",
            "rag.embedding_engine",
            "rag.embedding_model",
            "rag.openai.api_base_url",
            "rag.openai.api_key",
        )
        async def own():
            # one event loop for both: the async engine's pooled connections belong to it
            stored = await Config.get("rag.embedding_model")
            await Config.upsert({k: open_webui.config.DEFAULT_CONFIG[k] for k in owned})
            return stored

        before = asyncio.run(own())
        say("set from the environment: " + ", ".join(owned))
        size_vector_table(before, open_webui.config.DEFAULT_CONFIG["rag.embedding_model"])
        create_vector_store()
        say("releasing the migration lock")
        trans.commit()
    say(f"migrated and released the lock in {time.monotonic() - started:.1f} s")


def size_vector_table(model_before, model_now) -> None:
    """pgvector's column sized for the embedding model while it holds nothing; otherwise say what to do."""
    if os.environ.get("VECTOR_DB") != "pgvector":
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    want = int(os.environ.get("PGVECTOR_INITIALIZE_MAX_VECTOR_LENGTH", "1536"))
    engine = create_engine(os.environ["PGVECTOR_DB_URL"], poolclass=NullPool)
    try:
        with engine.begin() as c:
            column = c.execute(
                text(
                    "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
                    "WHERE attrelid = to_regclass('document_chunk') AND attname = 'vector' AND NOT attisdropped"
                )
            ).scalar()
            if column is None:
                return  # no table yet: Open WebUI creates it at the configured size
            rows = c.execute(text("SELECT count(*) FROM document_chunk")).scalar()
            if rows and model_before and model_before != model_now:
                say(
                    f"the embedding model changed from {model_before} to {model_now}: the {rows} stored vectors are "
                    "the old model's; reindex (POST /api/v1/knowledge/reindex as an admin; docs/operations.md, \"Documents\")"
                )
            m = re.fullmatch(r"(vector|halfvec)\((\d+)\)", column)
            if not m or int(m.group(2)) == want:
                return
            if rows:
                fail(
                    f"document_chunk holds {rows} vectors of {m.group(2)} dimensions, and PGVECTOR_INITIALIZE_MAX_VECTOR_LENGTH "
                    f"is {want} (the embedding model's): they cannot be compared. Empty it (TRUNCATE document_chunk), "
                    "then reindex as an admin: POST /api/v1/knowledge/reindex (docs/operations.md, \"Documents\")"
                )
            c.execute(text(f"ALTER TABLE document_chunk ALTER COLUMN vector TYPE {m.group(1)}({want})"))
            say(f"pgvector's empty table resized from {m.group(2)} to {want} dimensions (the embedding model's)")
    finally:
        engine.dispose()


def create_vector_store() -> None:
    """pgvector's table and indexes, made under the lock: Open WebUI makes them when it is imported,
    in one transaction without a lock, so replicas starting together on a new database race to
    create the same table and the loser crashes (as with the migrations)."""
    if os.environ.get("VECTOR_DB") != "pgvector":
        return
    try:
        from open_webui.retrieval.vector.dbs.pgvector import PgvectorClient

        client = PgvectorClient()
    except Exception as e:  # Open WebUI's own message says what is wrong with the store
        fail(f"the vector store (pgvector): {first_line(e)}")
    try:
        client.session.remove()
        client.session.get_bind().dispose()
    except Exception:  # only tidying before exec replaces this process
        pass
    say("the vector store is ready (pgvector)")


def main() -> None:
    env, db = resolve()
    report = check_connections(env, db)
    if "--check" in sys.argv[1:]:
        print(json.dumps(report), flush=True)
        return
    say(f"database {report['database']} (Postgres {report['serverVersion']}, TLS {'on' if report['tls'] else 'off'})")
    migrate_and_own_settings(db)
    db.engine.dispose()
    os.execvp("bash", ["bash", "start.sh"])


if __name__ == "__main__":
    main()
