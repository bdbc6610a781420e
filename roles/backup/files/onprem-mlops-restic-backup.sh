#!/bin/bash
# onprem-mlops-restic-backup: one encrypted restic snapshot of the platform, then retention.
# Installed by the Ansible role backup and run by onprem-mlops-restic-backup.service (timer).
#
# Usage: onprem-mlops-restic-backup [CONFIG]   (default: /etc/onprem-mlops/restic/backup.conf)
#
# CONFIG lines: "spool_dir DIR", "textfile_dir DIR", "keep_daily N", "keep_weekly N",
# "keep_monthly N", "database NAME" (repeated), "path DIR" (repeated), "exclude PATTERN".
# A run:
#   1. dumps every database with pg_dump -Fc (as postgres; each dump is one consistent
#      snapshot of its database) into SPOOL/postgresql/NAME.dump;
#   2. backs up SPOOL and every path in ONE snapshot (tag onprem-mlops) with onprem-restic;
#   3. only when 1 and 2 succeeded: forget --prune by the keep_* policy, then restic check;
#   4. writes TEXTFILE/onprem_backup.prom: the last success (kept from the previous file when
#      this run failed), whether this run succeeded, its duration and sizes.
# A failure at any step exits 1 and deletes no snapshot. Exit 2: bad configuration or another
# run active.
set -euo pipefail
umask 077
export LC_ALL=C
cd /

config=${1:-/etc/onprem-mlops/restic/backup.conf}
restic=/usr/local/sbin/onprem-restic

if [[ -n ${JOURNAL_STREAM:-} ]]; then
    p_info='<6>' p_err='<3>'
else
    p_info='' p_err=''
fi
info() { printf '%s%s\n' "$p_info" "$*"; }
error() { printf '%serror: %s\n' "$p_err" "$*" >&2; }

spool_dir="" textfile_dir="" keep_daily="" keep_weekly="" keep_monthly=""
databases=() paths=() excludes=()
[[ -r $config ]] || { error "cannot read the configuration $config"; exit 2; }
while read -r key value || [[ -n $key ]]; do
    case $key in
        '' | '#'*) ;;
        spool_dir) spool_dir=$value ;;
        textfile_dir) textfile_dir=$value ;;
        keep_daily) keep_daily=$value ;;
        keep_weekly) keep_weekly=$value ;;
        keep_monthly) keep_monthly=$value ;;
        database) databases+=("$value") ;;
        path) paths+=("$value") ;;
        exclude) excludes+=(--exclude "$value") ;;
        *) error "$config: unknown setting '$key'"; exit 2 ;;
    esac
done <"$config"
[[ $spool_dir == /?* ]] || { error "spool_dir '$spool_dir' is not an absolute path"; exit 2; }
for n in "$keep_daily" "$keep_weekly" "$keep_monthly"; do
    [[ $n =~ ^[0-9]+$ ]] || { error "keep_* '$n' is not a number"; exit 2; }
done

exec 9>/run/onprem-mlops-restic-backup.lock
flock --nonblock 9 || { error "another backup run is active"; exit 2; }

started=$(date +%s)
metrics() {  # $1: 1 this run succeeded, 0 it failed; $2, $3: bytes processed, added
    [[ -n $textfile_dir && -d $textfile_dir ]] || return 0
    local file=$textfile_dir/onprem_backup.prom now last_success
    now=$(date +%s)
    last_success=$(awk '$1 == "onprem_backup_last_success_timestamp_seconds" {print $2}' "$file" 2>/dev/null || true)
    ((${1} == 1)) && last_success=$now
    {
        echo "# HELP onprem_backup_last_success_timestamp_seconds End of the last backup that succeeded."
        echo "# TYPE onprem_backup_last_success_timestamp_seconds gauge"
        [[ -z $last_success ]] || echo "onprem_backup_last_success_timestamp_seconds $last_success"
        echo "# HELP onprem_backup_last_run_success 1 if the last backup run succeeded."
        echo "# TYPE onprem_backup_last_run_success gauge"
        echo "onprem_backup_last_run_success $1"
        echo "# HELP onprem_backup_last_run_timestamp_seconds End of the last backup run."
        echo "# TYPE onprem_backup_last_run_timestamp_seconds gauge"
        echo "onprem_backup_last_run_timestamp_seconds $now"
        echo "# HELP onprem_backup_last_run_duration_seconds Duration of the last backup run."
        echo "# TYPE onprem_backup_last_run_duration_seconds gauge"
        echo "onprem_backup_last_run_duration_seconds $((now - started))"
        if ((${1} == 1)); then
            echo "# HELP onprem_backup_last_processed_bytes Bytes the last successful snapshot covers."
            echo "# TYPE onprem_backup_last_processed_bytes gauge"
            echo "onprem_backup_last_processed_bytes $2"
            echo "# HELP onprem_backup_last_added_bytes Bytes the last successful snapshot added to the repository."
            echo "# TYPE onprem_backup_last_added_bytes gauge"
            echo "onprem_backup_last_added_bytes $3"
        fi
    } >"$file.partial"
    chmod 0644 "$file.partial"
    mv -f -- "$file.partial" "$file"
}
fail() {
    error "$*; no snapshot was deleted"
    rm -rf -- "${spool_dir:?}/postgresql"
    metrics 0
    exit 1
}

for path in "${paths[@]}"; do
    [[ -e $path ]] || fail "path $path does not exist"
done

rm -rf -- "${spool_dir:?}/postgresql"
mkdir -p -m 0700 "$spool_dir/postgresql"
for db in "${databases[@]}"; do
    runuser -u postgres -- pg_dump --format=custom --no-password "$db" >"$spool_dir/postgresql/$db.dump" ||
        fail "database $db: pg_dump failed"
    info "database $db: $(stat -c %s "$spool_dir/postgresql/$db.dump") bytes dumped"
done

summary=$("$restic" backup --json --quiet --tag onprem-mlops "${excludes[@]}" \
    "$spool_dir" "${paths[@]}" | tail -n 1) || fail "restic backup failed"
snapshot=$(sed -n 's/.*"snapshot_id":"\([0-9a-f]*\)".*/\1/p' <<<"$summary")
processed=$(sed -n 's/.*"total_bytes_processed":\([0-9]*\).*/\1/p' <<<"$summary")
added=$(sed -n 's/.*"data_added":\([0-9]*\).*/\1/p' <<<"$summary")
[[ -n $snapshot ]] || fail "restic backup reported no snapshot: $summary"
info "snapshot $snapshot: ${processed:-?} bytes processed, ${added:-?} bytes added"
rm -rf -- "${spool_dir:?}/postgresql"

"$restic" forget --quiet --tag onprem-mlops --host "$(hostname)" --prune \
    --keep-daily "$keep_daily" --keep-weekly "$keep_weekly" --keep-monthly "$keep_monthly" ||
    { error "retention (restic forget --prune) failed"; metrics 0; exit 1; }
"$restic" check --quiet || { error "restic check failed"; metrics 0; exit 1; }

metrics 1 "${processed:-0}" "${added:-0}"
info "backup finished: snapshot $snapshot, retention daily $keep_daily weekly $keep_weekly monthly $keep_monthly"
