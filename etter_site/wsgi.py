import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "etter_site.settings")
# The web server's few threads (granian: 2 workers x 4) each keep their own PostgreSQL connection
# open between requests (CONN_MAX_AGE). DATABASE_POOL is for the workers, whose hundreds of
# runner threads share a few connections; in front of every poll the pool cost a connection
# check and a hand-over. WEB_DATABASE_POOL=1 gives the web server a pool too.
os.environ["DATABASE_POOL"] = os.environ.get("WEB_DATABASE_POOL", "0")
application = get_wsgi_application()

# Python's cyclic garbage collector walks every live object at its oldest generation's turn:
# Django, DRF and the site are hundreds of thousands of objects that live as long as the
# process. A 2,500-role push allocates about a million more and spent a fifth of its time in
# the collector (bench/accept_speed.py). So the views are imported now rather than on the
# first request, everything loaded is frozen out of the collector's walks (gc.freeze), and it
# runs after every 50,000 new objects rather than 700 (WEB_GC_THRESHOLD; 0 leaves Python's
# default). Reference counting frees the rest as ever; only reference cycles wait longer.
get_resolver().url_patterns  # noqa: B018 (imports every view)
threshold = int(os.environ.get("WEB_GC_THRESHOLD", "50000"))
if threshold:
    gc.freeze()
    gc.set_threshold(threshold, 20, 20)
