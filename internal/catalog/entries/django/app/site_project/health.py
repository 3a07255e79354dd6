"""The health check quai's probes (and Kubernetes') call."""
from django.db import connection
from django.http import HttpResponse


def healthz(request):
    """Answers 200 when the database answers too."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return HttpResponse("ok\n", content_type="text/plain")


class HealthMiddleware:
    """Answers /healthz/ before anything reads the Host header: the probes
    reach a replica at its own address (127.0.0.1:PORT, the pod's IP), not
    at a name ALLOWED_HOSTS lists, and Django refuses those with 400."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz/":
            return healthz(request)
        return self.get_response(request)
