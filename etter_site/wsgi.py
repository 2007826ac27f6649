import gc
import os

from django.core.signals import request_finished
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
# defaults). Reference counting frees most objects as ever; those in reference cycles (a
# push's roles and runs name each other: some 50,000 objects holding 16 MB) wait for a
# collection of their generation. So once the young generation has been collected twice since
# the middle one was (100,000 objects that refcounting did not free: a big push, or thousands
# of polls), the request's thread runs a full collection after its answer is sent: about 45 ms
# that its client does not wait for, and memory stays flat (bench/web_memory.py).
get_resolver().url_patterns  # noqa: B018 (imports every view)
threshold = int(os.environ.get("WEB_GC_THRESHOLD", "50000"))
if threshold:
    gc.freeze()
    gc.set_threshold(threshold, 20, 20)

    def collect_when_due(**kwargs) -> None:
        """After a request's answer is sent (request_finished): a full collection when due."""
        if gc.get_count()[1] >= 2:
            gc.collect()

    request_finished.connect(collect_when_due, dispatch_uid="etter-collect-when-due")
