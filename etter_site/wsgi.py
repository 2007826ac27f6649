import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "etter_site.settings")
# The web server's few threads (granian: 2 workers x 4) each keep their own PostgreSQL connection
# open between requests (CONN_MAX_AGE). DATABASE_POOL is for the workers, whose hundreds of
# runner threads share a few connections; in front of every poll the pool cost a connection
# check and a hand-over. WEB_DATABASE_POOL=1 gives the web server a pool too.
os.environ["DATABASE_POOL"] = os.environ.get("WEB_DATABASE_POOL", "0")
application = get_wsgi_application()
