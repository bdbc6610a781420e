"""Bad input must stop the reverse_proxy role before it changes anything on the host."""

import pytest
from conftest import assert_fails_before_change

# The stub upstreams of converge.yml are fixtures, not under test here.
SKIP_FIXTURES = ("--skip-tags", "fixtures")
UP = "http://127.0.0.1:5000"


def test_bad_routes_fail_before_any_change(converge_with):
    # The check loops over every entry, so one run reports each bad one.
    routes = [
        {"path": "/", "upstream": UP},
        {"path": "api/", "upstream": UP},
        {"path": "/a/", "upstream": "127.0.0.1:5000"},
        {"path": "/b/", "upstream": UP, "max_body_size": "5GB"},
        {"path": "/c/", "upstream": UP, "read_timeout": "forever"},
        {"path": "/d/", "upstream": UP, "auth_url": "/auth"},
    ]
    run = converge_with({"reverse_proxy_routes": routes}, *SKIP_FIXTURES)
    prefix = r"reverse_proxy_routes entry \{\"path\": "
    for entry, problem in (
        (r"\"api/\", .*\}", r"path must start with '/'"),
        (
            r"\"/a/\", \"upstream\": \"127.0.0.1:5000\"\}",
            r"upstream must be an http:// or https:// URL",
        ),
        (r"\"/b/\", .*\"max_body_size\": \"5GB\"\}", r"max_body_size must be an nginx size"),
        (r"\"/c/\", .*\"read_timeout\": \"forever\"\}", r"read_timeout must be a time"),
        (r"\"/d/\", .*\"auth_url\": \"/auth\"\}", r"auth_url must be an http:// or https:// URL"),
    ):
        assert_fails_before_change(run, prefix + entry + ": " + problem)
    assert 'entry {"path": "/", ' not in run.output  # the good entry is not reported


@pytest.mark.parametrize(
    ("extra_vars", "expected"),
    [
        (
            {
                "reverse_proxy_routes": [
                    {"path": "/", "upstream": UP},
                    {"path": "/", "upstream": UP},
                ]
            },
            r"reverse_proxy_routes has more than one entry for path /:",
        ),
        (  # the argument specs: both reported by one check
            {"reverse_proxy_routes": [{"path": "/"}], "reverse_proxy_tls_mode": "letsencrypt"},
            r"(?=.*missing required arguments: upstream found in reverse_proxy_routes)"
            r"(?=.*reverse_proxy_tls_mode must be one of: internal_ca, provided, got: letsencrypt)",
        ),
        (
            {"reverse_proxy_server_names": ["mlops.example.test", "bad name"]},
            r"reverse_proxy_server_names entry 'bad name' is neither a DNS name",
        ),
        (
            {"reverse_proxy_extra_headers": {"Bad Header": "x"}},
            r"reverse_proxy_extra_headers 'Bad Header': the name must be an HTTP header name",
        ),
    ],
    ids=["duplicate_path", "argument_specs", "server_name", "header"],
)
def test_bad_input_fails_before_any_change(converge_with, extra_vars, expected):
    assert_fails_before_change(converge_with(extra_vars, *SKIP_FIXTURES), expected)


def test_configuration_nginx_rejects_is_not_written(host, converge_with):
    """What passes the role's checks but not nginx's own test never replaces the site."""
    site = host.file("/etc/nginx/conf.d/onprem-mlops.conf").content_string
    routes = [{"path": "/", "upstream": UP, "max_body_size": "99999999999999999999g"}]
    # Only the configuration tasks: the certificates are not concerned.
    run = converge_with({"reverse_proxy_routes": routes}, "--tags", "reverse_proxy-config")
    assert_fails_before_change(run, r'"client_max_body_size" directive invalid value')
    assert host.file("/etc/nginx/conf.d/onprem-mlops.conf").content_string == site
    assert host.run("curl -sS -o /dev/null https://localhost/").rc == 0
