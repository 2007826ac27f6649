# Production image: granian serves the site, whitenoise the static files; the same image runs
# the django-q2 workers (`python manage.py qcluster`). See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# collectstatic needs settings to load: a random key used at build time only, never kept.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DATABASE_URL=sqlite:////tmp/build.sqlite3 python manage.py collectstatic --noinput \
    && useradd --create-home --uid 1000 etter && mkdir -p /app/media && chown -R etter /app/media

# Production is HTTPS only, behind a TLS-terminating proxy that sets X-Forwarded-Proto (README,
# "Security"). The health endpoint stays reachable over plain HTTP for the load balancer's probe.
# `manage.py check --deploy` is clean with these (tests/test_deploy_settings.py).
ENV DEBUG=0 \
    SECURE_SSL_REDIRECT=1 \
    SECURE_PROXY_SSL_HEADER=X-Forwarded-Proto \
    SECURE_HSTS_SECONDS=31536000 \
    SECURE_HSTS_INCLUDE_SUBDOMAINS=1 \
    SECURE_HSTS_PRELOAD=1

USER etter
EXPOSE 8000
CMD ["granian", "--interface", "wsgi", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--blocking-threads", "4", "etter_site.wsgi:application"]
