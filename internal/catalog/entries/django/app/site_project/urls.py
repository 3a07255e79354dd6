from django.contrib import admin
from django.db import connection
from django.http import HttpResponse
from django.urls import path


def healthz(request):
    """Answers 200 when the database answers too."""
    with connection.cursor() as cur:
        cur.execute("SELECT 1")
    return HttpResponse("ok\n", content_type="text/plain")


def home(request):
    return HttpResponse("<!doctype html><title>It works</title><h1>Your Django site is running.</h1>\n")


urlpatterns = [
    path("", home),
    path("healthz/", healthz),
    path("admin/", admin.site.urls),
]
