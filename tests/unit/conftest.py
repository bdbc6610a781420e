"""Fixtures shared by the unit tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    """A loopback ``mlflow server`` with basic auth for the test module; its admin password is
    the module's ``PASSWORD``. Only modules that need MLflow (and skip without it) ask for it."""
    from onprem_mlops.smoke import local_server

    try:
        with local_server.running(
            tmp_path_factory.mktemp("mlflow"), request.module.PASSWORD
        ) as url:
            yield url
    except local_server.ServerError as exc:
        pytest.fail(str(exc))
