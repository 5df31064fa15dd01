from django.urls import path

from annotate import dataset_views

app_name = "dataset"

urlpatterns = [
    path("", dataset_views.dataset_home, name="home"),
    path("import/preview/", dataset_views.import_preview, name="import_preview"),
    path("import/confirm/", dataset_views.import_confirm, name="import_confirm"),
    path("export/", dataset_views.export_download, name="export_download"),
]
