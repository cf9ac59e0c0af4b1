"""Runs on Open WebUI's volume, in a pod that mounts it: puts the files of a backup in place.

Argument: one JSON object
  {"data": "/app/backend/data", "files": [{"path", "bytes", "sha256"}, ...], "stamp": "...",
   "size": <bytes of the tar on stdin>, "steps": ["stage", "swap", "discard"], "names": ["webui.db", "uploads"]}
Steps, in this order when several are given:
  discard  drop the staging directory
  stage    read exactly `size` bytes of a tar of data/... from stdin into <data>/.restore-staging and
           check every file against `files` (and the database against SQLite's integrity check)
  swap     the live `names` move to <data>/.pre-restore-<stamp>, the staged ones into place; a
           failure midway moves everything back
The last line on stdout is a JSON object: {"kept": <the directory holding the replaced data, or null>}.
"""
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import tarfile


def receive(stage, size):
    """Exactly `size` bytes into stage/received.tar: the exec's stdin is never closed, so EOF cannot mark the end."""
    received = os.path.join(stage, "received.tar")
    with open(received, "wb") as out:
        left = size
        while left:
            block = sys.stdin.buffer.read1(min(left, 1 << 20))
            if not block:
                sys.exit("the archive stream ended after %d of %d bytes" % (size - left, size))
            out.write(block)
            left -= len(block)
    return received


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def stage_files(stage, files, size):
    shutil.rmtree(stage, ignore_errors=True)
    os.makedirs(stage)
    try:
        received = receive(stage, size)
        with tarfile.open(received) as t:
            for m in t.getmembers():  # only plain files and directories under data/, whatever the Python
                if not (m.isfile() or m.isdir()) or not m.name.startswith("data/") or ".." in m.name.split("/"):
                    sys.exit("refusing archive member %r" % m.name)
            t.extractall(stage, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        os.remove(received)
        want = {f["path"]: (f["bytes"], f["sha256"]) for f in files}
        got = {}
        for root, _dirs, names in os.walk(stage):
            for name in names:
                p = os.path.join(root, name)
                got[os.path.relpath(p, stage)] = (os.path.getsize(p), sha256_of(p))
        for path, expected in want.items():
            if got.get(path) != expected:
                sys.exit("staged %s does not match the archive's manifest" % path)
        if set(got) - set(want):
            sys.exit("unexpected staged files: %s" % sorted(set(got) - set(want)))
        db_path = os.path.join(stage, "data/webui.db")
        if os.path.exists(db_path):
            db = sqlite3.connect(db_path)
            ok = db.execute("pragma integrity_check").fetchone()[0]
            db.close()
            if ok != "ok":
                sys.exit("the staged database fails SQLite's integrity check: %s" % ok)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def swap(data, stage, keep, names):
    # SQLite's -wal and -shm belong to the live database: they go with it.
    live = names + (["webui.db-wal", "webui.db-shm"] if "webui.db" in names else [])
    moved, placed = [], []
    try:
        os.makedirs(keep)
        for name in live:
            if os.path.lexists(os.path.join(data, name)):
                os.rename(os.path.join(data, name), os.path.join(keep, name))
                moved.append(name)
        for name in names:
            src = os.path.join(stage, "data", name)
            if os.path.lexists(src):
                os.rename(src, os.path.join(data, name))
                placed.append(name)
        if "uploads" not in placed:
            os.makedirs(os.path.join(data, "uploads"))
    except BaseException:
        for name in placed:
            os.rename(os.path.join(data, name), os.path.join(stage, "data", name))
        for name in moved:
            os.rename(os.path.join(keep, name), os.path.join(data, name))
        raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def main(args):
    data, steps = args["data"], args["steps"]
    stage = os.path.join(data, ".restore-staging")
    keep = os.path.join(data, ".pre-restore-" + args["stamp"])
    if "discard" in steps:
        shutil.rmtree(stage, ignore_errors=True)
    if "stage" in steps:
        stage_files(stage, args["files"], args["size"])
    if "swap" in steps:
        swap(data, stage, keep, args["names"])
    print(json.dumps({"kept": keep if "swap" in steps else None}))


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
