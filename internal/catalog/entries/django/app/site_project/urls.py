from django.contrib import admin
from django.http import HttpResponse
from django.urls import path

from site_project.health import healthz


def home(request):
    return HttpResponse("<!doctype html><title>It works</title><h1>Your Django site is running.</h1>\n")


urlpatterns = [
    path("", home),
    path("healthz/", healthz),
    path("admin/", admin.site.urls),
]
