"""The developer queue and the fix workspace; included at path("work/", include("annotate.workspace_urls"))."""

from django.urls import path

from annotate import workspace_views as views

app_name = "workspace"

# Admin actions last: the role-matrix test walks URLs in order, and a reopen changes what the others see.
urlpatterns = [
    path("", views.queue, name="queue"),
    path("translations/<int:translation_id>/claim/", views.translation_claim, name="translation_claim"),
    path("sessions/<int:session_id>/", views.session_detail, name="session_detail"),
    path("sessions/<int:session_id>/save/", views.code_save, name="code_save"),
    path("sessions/<int:session_id>/run/", views.run_create, name="run_create"),
    path("sessions/<int:session_id>/steps/new/", views.fix_step_new, name="fix_step_new"),
    path("sessions/<int:session_id>/steps/", views.fix_step_create, name="fix_step_create"),
    path("sessions/<int:session_id>/verify/", views.session_verify, name="session_verify"),
    path("sessions/<int:session_id>/contract-runs/", views.contract_run_create, name="contract_run_create"),
    path("sessions/<int:session_id>/abandon/", views.session_abandon, name="session_abandon"),
    path("steps/<int:step_id>/", views.fix_step_detail, name="fix_step_detail"),
    path("steps/<int:step_id>/retract/", views.fix_step_retract, name="fix_step_retract"),
    path("sessions/<int:session_id>/reassign/", views.session_reassign, name="session_reassign"),
    path("sessions/<int:session_id>/reopen/", views.session_reopen, name="session_reopen"),
]
