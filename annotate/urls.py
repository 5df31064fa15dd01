from django.urls import path

from annotate import views

app_name = "annotate"

urlpatterns = [
    path("samples/", views.sample_list, name="sample_list"),
    path("samples/<slug:key>/", views.sample_detail, name="sample_detail"),
    path("systems/", views.system_list, name="system_list"),
    path("systems/<slug:name>/", views.system_detail, name="system_detail"),
    path("systems/<slug:name>/recount/", views.system_recount, name="system_recount"),
    path("jobs/<int:pk>/progress/", views.job_progress_hx, name="job_progress_hx"),
    path("jobs/<int:pk>/cancel/", views.job_cancel, name="job_cancel"),
]
