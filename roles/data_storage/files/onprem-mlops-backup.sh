#!/bin/bash
# onprem-mlops-backup: PostgreSQL dumps and file archives of the MLOps platform, with retention.
# Installed by the Ansible role data_storage and run by onprem-mlops-backup.service (timer).
#
# Usage: onprem-mlops-backup [CONFIG]     (default: /etc/onprem-mlops-backup.conf)
#
# CONFIG lines: "backup_dir DIR", "retention_days N", "database NAME" (repeated),
# "path NAME DIR" (repeated). Each run, with one UTC timestamp T:
#   database NAME -> DIR/postgresql/NAME-T.dump     (runuser -u postgres -- pg_dump -Fc NAME)
#   path NAME SRC -> DIR/files/NAME-T.tar.gz        (tar of SRC, stored without the leading /)
# Each is written to a hidden .partial file and renamed when complete (mode 0600).
# Then, only if everything succeeded: backups older than retention_days are deleted, except
# the newest of each database and path, and DIR/LATEST lists what this run wrote.
# Exit status: 0 all done, 1 a backup failed, 2 bad configuration or another run active.
set -euo pipefail
umask 077
export LC_ALL=C
cd /

config=${1:-/etc/onprem-mlops-backup.conf}

# Under systemd, a <N> prefix gives the journal the message's priority.
if [[ -n ${JOURNAL_STREAM:-} ]]; then
    p_info='<6>' p_warn='<4>' p_err='<3>'
else
    p_info='' p_warn='' p_err=''
fi
info() { printf '%s%s\n' "$p_info" "$*"; }
warn() { printf '%swarning: %s\n' "$p_warn" "$*" >&2; }
error() { printf '%serror: %s\n' "$p_err" "$*" >&2; }

backup_dir=""
retention_days=""
databases=()
path_names=()
path_sources=()

[[ -r $config ]] || { error "cannot read the configuration $config"; exit 2; }
while read -r key value || [[ -n $key ]]; do
    case $key in
        '' | '#'*) ;;
        backup_dir) backup_dir=$value ;;
        retention_days) retention_days=$value ;;
        database) databases+=("$value") ;;
        path)
            path_names+=("${value%% *}")
            path_sources+=("${value#* }")
            ;;
        *) error "$config: unknown setting '$key'"; exit 2 ;;
    esac
done <"$config"

[[ $backup_dir == /?* && -d $backup_dir ]] || { error "backup_dir '$backup_dir' is not a directory"; exit 2; }
[[ $retention_days =~ ^[1-9][0-9]*$ ]] || { error "retention_days '$retention_days' is not a positive number"; exit 2; }

# One run at a time (the timer and a manual start may meet).
exec 9>"$backup_dir/.lock"
flock --nonblock 9 || { error "another backup run holds $backup_dir/.lock"; exit 2; }

mkdir -p "$backup_dir/postgresql" "$backup_dir/files"
# Leftovers of an interrupted run.
find "$backup_dir/postgresql" "$backup_dir/files" -maxdepth 1 -type f -name '.*.partial' -delete

stamp=$(date -u +%Y%m%dT%H%M%SZ)
failures=0
written=()
partial=""
trap '[[ -z $partial ]] || rm -f -- "$partial"' EXIT

for db in "${databases[@]}"; do
    final="$backup_dir/postgresql/$db-$stamp.dump"
    partial="$backup_dir/postgresql/.$db-$stamp.dump.partial"
    if runuser -u postgres -- pg_dump --format=custom --no-password "$db" >"$partial"; then
        mv -- "$partial" "$final"
        partial=""
        written+=("postgresql/${final##*/}")
        info "database $db: $final ($(stat -c %s "$final") bytes)"
    else
        rc=$?
        rm -f -- "$partial"
        partial=""
        error "database $db: pg_dump failed (exit $rc)"
        failures=$((failures + 1))
    fi
done

for i in "${!path_names[@]}"; do
    name=${path_names[i]}
    source=${path_sources[i]}
    final="$backup_dir/files/$name-$stamp.tar.gz"
    partial="$backup_dir/files/.$name-$stamp.tar.gz.partial"
    if [[ ! -d $source && ! -f $source ]]; then
        error "path $source: not found"
        failures=$((failures + 1))
        continue
    fi
    rc=0
    # Members are stored relative to / (extract with tar -C / or into a scratch directory);
    # the backup directory itself is never archived.
    tar --create --gzip --file="$partial" --directory=/ --exclude="${backup_dir#/}" \
        "${source#/}" || rc=$?
    if ((rc > 1)); then
        rm -f -- "$partial"
        partial=""
        error "path $source: tar failed (exit $rc)"
        failures=$((failures + 1))
        continue
    fi
    # Exit 1: files changed or vanished while being read; the archive is complete otherwise.
    ((rc == 0)) || warn "path $source: some files changed while being archived (kept as they were read)"
    mv -- "$partial" "$final"
    partial=""
    written+=("files/${final##*/}")
    info "path $source: $final ($(stat -c %s "$final") bytes)"
done

if ((failures > 0)); then
    error "$failures backup(s) failed, ${#written[@]} written; nothing pruned, LATEST not updated"
    exit 1
fi

# Retention: delete NAME-T.EXT older than retention_days, but never the newest of each NAME.
pruned=0
prune() {
    local dir=$1 ext=$2 entry mtime file name
    local -A newest=()
    local -a entries=()
    local pattern="^(.+)-[0-9]{8}T[0-9]{6}Z\\.${ext//./\\.}\$"
    local cutoff=$(($(date +%s) - retention_days * 86400))
    # Oldest first, so the last file seen of each name is its newest.
    mapfile -t entries < <(find "$dir" -maxdepth 1 -type f -printf '%T@ %f\n' | sort -n)
    for entry in "${entries[@]}"; do
        file=${entry#* }
        [[ $file =~ $pattern ]] && newest[${BASH_REMATCH[1]}]=$file
    done
    for entry in "${entries[@]}"; do
        mtime=${entry%% *}
        mtime=${mtime%.*}
        file=${entry#* }
        [[ $file =~ $pattern ]] || continue
        name=${BASH_REMATCH[1]}
        if [[ ${newest[$name]} != "$file" ]] && ((mtime < cutoff)); then
            rm -f -- "${dir:?}/$file"
            info "pruned $dir/$file"
            pruned=$((pruned + 1))
        fi
    done
}
prune "$backup_dir/postgresql" dump
prune "$backup_dir/files" tar.gz

{
    echo "finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "stamp=$stamp"
    echo "status=ok"
    for file in "${written[@]}"; do
        echo "file=$file"
    done
} >"$backup_dir/.LATEST.partial"
mv -- "$backup_dir/.LATEST.partial" "$backup_dir/LATEST"

info "backup $stamp finished: ${#written[@]} written, $pruned pruned, retention $retention_days days"
