from django.urls import path

from evaluate import views, views_experiment

app_name = "evaluate"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("refresh/", views.dashboard_refresh, name="dashboard_refresh"),
    path("export/", views.metrics_export, name="metrics_export"),
    path("compute/", views.metrics_compute, name="metrics_compute"),
    path("llm-compare/", views.llm_compare_start, name="llm_compare_start"),
    path("fixcost-estimate/", views.fixcost_estimate_start, name="fixcost_estimate_start"),
    path("review/", views.review_compare, name="review_compare"),
    path("review/vote/", views.comparison_vote, name="comparison_vote"),
    path("score/", views.score_translation, name="score_translation"),
    path("score/submit/", views.judgement_create, name="judgement_create"),
    path("experiments/", views_experiment.experiment_list, name="experiment_list"),
    path("experiments/<slug:experiment_name>/", views_experiment.experiment_detail, name="experiment_detail"),
    path(
        "experiments/<slug:experiment_name>/step/",
        views_experiment.experiment_step_start,
        name="experiment_step_start",
    ),
    path(
        "experiments/<slug:experiment_name>/rebuild/",
        views_experiment.experiment_report_rebuild,
        name="experiment_report_rebuild",
    ),
    path("experiments/<slug:experiment_name>/export/", views_experiment.experiment_export, name="experiment_export"),
]
