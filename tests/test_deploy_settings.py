"""Production refuses the unsafe: a weak or published SECRET_KEY stops the start, the production
image's settings pass `manage.py check --deploy`, HTTPS is on there (the health probe excepted),
and compose takes its credentials from an env file that git never sees."""

import re
import secrets
import shlex
import subprocess
import sys

import environ
import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured

from etter_site.security import proxy_ssl_header
from etter_site.settings import DEVELOPMENT_SECRET_KEY
from tests.helpers import ROOT


def dockerfile_env() -> dict[str, str]:
    """The ENV of the production image, as the Dockerfile sets it."""
    text = re.sub(r"\\\n\s*", " ", (ROOT / "Dockerfile").read_text())
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(word.split("=", 1) for word in shlex.split(line[len("ENV ") :]))
    return env


def start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """A fresh process with only these settings: no developer .env, nothing of the test run."""
    clean = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "etter_site.settings",
        "ETTER_IGNORE_DOTENV": "1",
        "DATABASE_URL": "sqlite:////tmp/etter-deploy-check.sqlite3",
        **env,
    }
    command = list(args) or ["-c", "import django; django.setup()"]
    return subprocess.run(
        [sys.executable, *command], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_the_production_image_passes_check_deploy_without_a_warning():
    env = {**dockerfile_env(), "SECRET_KEY": secrets.token_urlsafe(50)}
    assert env["DEBUG"] == "0" and env["SECURE_SSL_REDIRECT"] == "1"
    result = start(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout


def test_without_the_images_settings_check_deploy_names_what_is_missing():
    result = start({"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50)}, "manage.py", "check", "--deploy")
    for missing in ("security.W004", "security.W008"):  # HSTS, the SSL redirect
        assert missing in result.stderr + result.stdout


@pytest.mark.parametrize(
    "key,why",
    [
        ("", "must be set when DEBUG is off"),
        (DEVELOPMENT_SECRET_KEY, "is the development key published in this repository"),
        ("django-insecure-" + "k3J9-qW2x_Lm8ZpR4tYv6Nb0Hs5Gd7Fc1Ae" * 2, "starts with 'django-insecure-'"),
        ("k3J9-qW2x_Lm8ZpR4tYv6Nb0Hs5Gd7", "is too short"),
        ("ab" * 40, "has too few different characters"),
        ("build-only", "is too short"),
    ],
)
def test_a_production_start_refuses_a_weak_or_published_key(key, why):
    result = start({"DEBUG": "0", "SECRET_KEY": key})
    assert result.returncode != 0
    assert f"ImproperlyConfigured: SECRET_KEY {why}" in result.stderr, result.stderr[-2000:]
    assert "secrets.token_urlsafe(50)" in result.stderr  # says how to make one


def test_a_production_start_takes_a_strong_key_and_development_needs_none():
    assert start({"DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50)}).returncode == 0
    development = start(
        {"DEBUG": "1"},
        "-c",
        "import django; django.setup(); from django.conf import settings; print(settings.SECRET_KEY)",
    )
    assert development.returncode == 0 and development.stdout.strip() == DEVELOPMENT_SECRET_KEY


def test_the_proxy_header_is_named_as_the_proxy_sends_it():
    assert proxy_ssl_header("") is None
    assert proxy_ssl_header("X-Forwarded-Proto") == ("HTTP_X_FORWARDED_PROTO", "https")
    assert proxy_ssl_header("HTTP_X_FORWARDED_PROTO") == ("HTTP_X_FORWARDED_PROTO", "https")
    with pytest.raises(ImproperlyConfigured, match="SECURE_PROXY_SSL_HEADER"):
        proxy_ssl_header("X-Forwarded-Proto: https")


@pytest.mark.django_db
def test_with_https_on_everything_redirects_but_the_health_probe(client, settings):
    env = dockerfile_env()
    settings.SECURE_SSL_REDIRECT = env["SECURE_SSL_REDIRECT"] == "1"
    settings.SECURE_HSTS_SECONDS = int(env["SECURE_HSTS_SECONDS"])
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = settings.SECURE_HSTS_PRELOAD = True
    settings.SECURE_PROXY_SSL_HEADER = proxy_ssl_header(env["SECURE_PROXY_SSL_HEADER"])
    for path in ("/api/v1/pipeline/companies", "/admin/login/", "/status/", "/metrics"):
        response = client.get(path)
        assert response.status_code == 301 and response["Location"] == f"https://testserver{path}"
    probe = client.get("/api/v1/pipeline/health")  # the load balancer, over plain HTTP
    assert probe.status_code in (200, 503) and probe.json()["components"]["database"] == "healthy"
    behind_the_proxy = client.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert behind_the_proxy.status_code == 200
    assert behind_the_proxy["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"


def test_compose_takes_its_credentials_from_an_uncommitted_env_file():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    app, db = compose["services"]["web"], compose["services"]["db"]
    assert app["env_file"] == ".env" and app["environment"]["DEBUG"] == "0"
    assert db["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")
    assert "${POSTGRES_PASSWORD:?" in app["environment"]["DATABASE_URL"]
    assert app["environment"]["SECRET_KEY"].startswith("${SECRET_KEY:?")
    assert "etter:etter@" not in (ROOT / "docker-compose.yml").read_text()
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text().splitlines(), ignore
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked == ""


def test_env_example_documents_every_setting_and_copies_cleanly(tmp_path):
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, re.MULTILINE))
    read_by_settings = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', _settings_source()))
    read_by_compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    # ETTER_IGNORE_DOTENV decides whether .env is read at all: it cannot live in .env.
    assert read_by_settings - documented == {"ETTER_IGNORE_DOTENV"}
    assert read_by_compose <= documented
    # Copied as it is, every value reads as written (django-environ keeps a comment after a value
    # as part of it, compose does not: so no line has one).
    copy = tmp_path / ".env"
    copy.write_text(example)

    class ReadInto(environ.Env):
        ENVIRON: dict[str, str] = {}

    ReadInto.read_env(copy)
    assert set(ReadInto.ENVIRON) == {name for name in documented if f"\n{name}=" in "\n" + example}
    assert [name for name, value in ReadInto.ENVIRON.items() if "#" in value or value != value.strip()] == []


def _settings_source() -> str:
    return "".join((ROOT / "etter_site" / name).read_text() for name in ("settings.py", "security.py"))


@pytest.mark.parametrize(
    "setting,threshold,frozen",
    [
        ({}, 50000, True),
        ({"WEB_GC_THRESHOLD": "20000"}, 20000, True),
        ({"WEB_GC_THRESHOLD": "0"}, 700, False),
    ],
)
def test_the_web_server_keeps_what_it_loaded_out_of_the_garbage_collectors_walks(setting, threshold, frozen):
    """etter_site/wsgi.py, as the server loads it: the views imported, the loaded heap frozen,
    and the collector's first threshold from WEB_GC_THRESHOLD (0: Python's own)."""
    probe = (
        "import gc, sys, etter_site.wsgi; "
        "print(gc.get_threshold()[0], gc.get_freeze_count(), 'batches.api' in sys.modules)"
    )
    result = start({"DEBUG": "1", **setting}, "-c", probe)
    assert result.returncode == 0, result.stderr[-2000:]
    first, frozen_count, views_loaded = result.stdout.split()
    assert int(first) == threshold
    assert (int(frozen_count) > 50_000) is frozen  # all of Django, DRF and the site
    assert views_loaded == "True"


def test_the_web_server_collects_reference_cycles_after_the_answer_not_during_it():
    """A big push leaves its roles and runs in reference cycles; with the collector running
    seldom, the thread that answered collects them once its answer is sent (request_finished)."""
    probe = (
        "import gc, etter_site.wsgi\n"
        "from django.core.signals import request_finished\n"
        "full = []\n"
        "gc.callbacks.append(lambda phase, info: phase == 'stop' and full.append(info['collected']))\n"
        "cycles = []\n"
        "for i in range(150_000):\n"
        "    a = []; a.append(a); cycles.append(a)\n"
        "del cycles, a\n"
        "before = sum(full)\n"
        "request_finished.send(sender=None)\n"
        "print(before, sum(full) - before)\n"
    )
    result = start({"DEBUG": "1"}, "-c", probe)
    assert result.returncode == 0, result.stderr[-2000:]
    during, after = map(int, result.stdout.split())
    assert during < 150_000 <= after  # most were left for after the answer, then all went
