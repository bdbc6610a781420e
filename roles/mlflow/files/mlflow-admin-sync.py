"""Make MLflow's admin account match the basic-auth configuration (run by the mlflow role).

MLflow creates the admin from basic_auth.ini only once, on the first start; a password
rotated in the vault would never reach it. This sets it (and the admin flag) when they
differ and prints one word: ok, created or updated. Secrets stay in the file.
"""

import configparser
import os
import sys

from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore


def main() -> int:
    config = configparser.ConfigParser()
    config.read(os.environ["MLFLOW_AUTH_CONFIG_PATH"])
    section = config["mlflow"]
    username, password = section["admin_username"], section["admin_password"]
    store = SqlAlchemyStore()
    store.init_db(section["database_uri"])
    if not store.has_user(username):
        store.create_user(username, password, is_admin=True)
        print("created")
    elif not store.authenticate_user(username, password) or not store.get_user(username).is_admin:
        store.update_user(username, password=password, is_admin=True)
        print("updated")
    else:
        print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
