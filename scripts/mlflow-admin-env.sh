# Sourced by the benchmark scripts that run jobs logging to the platform's MLflow as admin.
# mlflow_admin_env PASSWORD_FILE DEST [NAME=VALUE ...]: writes DEST (0600, for
# `docker exec --env-file`) with the admin's user name and password and the extra lines; the
# password never goes on a command line.
mlflow_admin_env() {
  local password_file=$1 dest=$2
  shift 2
  [ -r "$password_file" ] || { echo "no $password_file (CREDENTIALS_DIR?)" >&2; exit 2; }
  (
    umask 077
    {
      echo "MLFLOW_TRACKING_USERNAME=admin"
      echo "MLFLOW_TRACKING_PASSWORD=$(cat "$password_file")"
      printf '%s\n' "$@"
    } > "$dest"
  )
}
