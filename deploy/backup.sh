#!/bin/sh
# Back up the ledger (SQLite or PostgreSQL) into DEST_DIR, with a timestamp.
#   deploy/backup.sh /var/backups/duban
# Reads DUBAN_DATABASE_URL / DUBAN_HOME the way duban does (source the env file first:
#   set -a; . /etc/duban/duban.env; set +a). Safe while duban runs: SQLite's online backup
# API and pg_dump both take a consistent snapshot.
# Backups hold citizens' names and texts: a folder it makes is 0700 and every file 0600
# (umask 077), whatever the caller's umask.
set -eu
umask 077
dest=${1:?usage: backup.sh DEST_DIR}
mkdir -p "$dest"
stamp=$(date +%Y%m%d-%H%M%S)
url=${DUBAN_DATABASE_URL:-}
case "$url" in
  ""|sqlite*)
    if [ -n "$url" ]; then db=${url#sqlite:///}; else db=${DUBAN_HOME:-var}/duban.db; fi
    out="$dest/duban-$stamp.db"
    python3 - "$db" "$out" <<'PY'
import sqlite3, sys
source, target = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
with target:
    source.backup(target)
target.close(); source.close()
PY
    ;;
  postgresql*)
    out="$dest/duban-$stamp.dump"
    pg_dump --format=custom --no-owner --file "$out" "$(echo "$url" | sed 's|^postgresql+psycopg:|postgresql:|')"
    ;;
  *)
    echo "backup.sh: unsupported DUBAN_DATABASE_URL" >&2; exit 2 ;;
esac
echo "$out"
