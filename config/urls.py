"""URL routes: the regulator's admin and the labs' API."""
from django.contrib import admin
from django.urls import path

urlpatterns = [
    path("admin/", admin.site.urls),
]
