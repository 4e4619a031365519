#!/usr/bin/env bash
# Nightly backup of the Awareness database (cron or a systemd timer). The database holds the
# delivery ledger: restoring an old copy would resend what was sent since, so keep backups
# recent and restore only with the service stopped.
set -euo pipefail
dest=${1:-/var/backups/awareness}
mkdir -p "$dest"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
url=$(cd /srv/awareness && .venv/bin/python -c 'from awareness.config.settings import load_settings; print(load_settings().database_url)')
case "$url" in
  sqlite:///*) sqlite3 "${url#sqlite:///}" ".backup '$dest/awareness-$stamp.db'" ;;   # safe while running (WAL)
  postgresql*) pg_dump --format=custom --file="$dest/awareness-$stamp.dump" "$(echo "$url" | sed 's/+psycopg//')" ;;
  *) echo "unknown database URL: $url" >&2; exit 1 ;;
esac
find "$dest" -name 'awareness-*' -mtime +30 -delete
