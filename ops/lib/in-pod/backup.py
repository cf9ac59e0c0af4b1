"""Runs in an Open WebUI pod (its image has Python, no sqlite3 CLI): writes a tar of data/ to stdout.

Argument: one JSON object {"data": "/app/backend/data", "database": "sqlite" | "postgres"}.
With SQLite the database is copied through SQLite's online backup API (consistent while Open WebUI
keeps writing) and checked with integrity_check; the uploads directory follows. The last line on
stderr is a JSON object: {"schema": <alembic revision or null>}.
"""
import json
import os
import sqlite3
import sys
import tarfile


def main(args):
    data, with_db = args["data"], args["database"] == "sqlite"
    tmp = "/tmp/chatstack-backup-%d.db" % os.getpid()
    schema = None
    try:
        if with_db:
            src = sqlite3.connect("file:%s/webui.db?mode=ro" % data, uri=True)
            dst = sqlite3.connect(tmp)
            src.backup(dst)
            ok = dst.execute("pragma integrity_check").fetchone()[0]
            schema = dst.execute("select version_num from alembic_version").fetchone()[0]
            dst.close()
            src.close()
            if ok != "ok":
                sys.exit("the copy fails SQLite's integrity check: %s" % ok)
        with tarfile.open(fileobj=sys.stdout.buffer, mode="w|") as t:
            if with_db:
                t.add(tmp, arcname="data/webui.db")
            if os.path.isdir(os.path.join(data, "uploads")):
                t.add(os.path.join(data, "uploads"), arcname="data/uploads")
        sys.stdout.buffer.flush()
        sys.stderr.write(json.dumps({"schema": schema}) + "\n")
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
