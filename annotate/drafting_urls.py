from django.urls import path

from annotate import drafting_views as views

app_name = "drafting"

urlpatterns = [
    path("", views.system_list, name="system_list"),
    path("systems/new/", views.system_create, name="system_create"),
    path("systems/<slug:name>/", views.system_detail, name="system_detail"),
    path("systems/<slug:name>/draft/", views.draft_start, name="draft_start"),
    path("systems/<slug:name>/retry-failed/", views.draft_retry, name="draft_retry"),
    path("systems/<slug:name>/preview/", views.prompt_preview, name="prompt_preview"),
]
