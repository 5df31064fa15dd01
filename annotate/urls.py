"""Every URL of the annotate app, grouped by prefix; each group keeps its namespace.

t2j_site/urls.py includes this module once. Paths and names are what the role-matrix test walks
(tests/test_role_matrix.py): a new view needs a row there.
"""

from django.urls import include, path

from annotate.views import catalog, contracts, dataset, drafting, help, workspace

# Samples, systems and jobs: namespace "annotate".
catalog_patterns = [
    path("samples/", catalog.sample_list, name="sample_list"),
    path("samples/<slug:key>/", catalog.sample_detail, name="sample_detail"),
    path("samples/<slug:key>/run-settings/", catalog.sample_settings_update, name="sample_settings_update"),
    path("samples/<slug:key>/files/", catalog.sample_file_create, name="sample_file_create"),
    path("samples/<slug:key>/files/<int:file_id>/", catalog.sample_file_download, name="sample_file_download"),
    path("samples/<slug:key>/files/<int:file_id>/delete/", catalog.sample_file_delete, name="sample_file_delete"),
    path("systems/", catalog.system_list, name="system_list"),
    path("systems/<slug:name>/", catalog.system_detail, name="system_detail"),
    path("systems/<slug:name>/recount/", catalog.system_recount, name="system_recount"),
    path("systems/<slug:name>/stats/", catalog.system_stats_hx, name="system_stats_hx"),
    path("systems/<slug:name>/runs/", catalog.system_runs_start, name="system_runs_start"),
    path("runs/<int:run_id>/plots/<int:position>.png", catalog.run_plot, name="run_plot"),
    path("sandbox/", catalog.sandbox_contents, name="sandbox_contents"),
    path("jobs/", catalog.job_list, name="job_list"),
    # A system checked against its samples' contracts (views/contracts.py; the system page loads it).
    path("systems/<slug:name>/verification/", contracts.system_verification, name="system_verification"),
    path("systems/<slug:name>/verify/", contracts.system_verify, name="system_verify"),
    path("jobs/<int:pk>/progress/", catalog.job_progress_hx, name="job_progress_hx"),
    path("jobs/<int:pk>/cancel/", catalog.job_cancel, name="job_cancel"),
    path("jobs/<int:pk>/retry/", catalog.job_retry, name="job_retry"),
]

# Moving the bug-fix dataset in and out, under dataset/.
dataset_patterns = [
    path("", dataset.dataset_home, name="home"),
    path("import/preview/", dataset.import_preview, name="import_preview"),
    path("import/confirm/", dataset.import_confirm, name="import_confirm"),
    path("export/", dataset.export_download, name="export_download"),
]

# LLM drafting systems, under drafting/.
drafting_patterns = [
    path("", drafting.system_list, name="system_list"),
    path("systems/new/", drafting.system_create, name="system_create"),
    path("systems/<slug:name>/", drafting.system_detail, name="system_detail"),
    path("systems/<slug:name>/draft/", drafting.draft_start, name="draft_start"),
    path("systems/<slug:name>/retry-failed/", drafting.draft_retry, name="draft_retry"),
    path("systems/<slug:name>/preview/", drafting.prompt_preview, name="prompt_preview"),
]

# The developer queue and the fix workspace, under work/.
# Admin actions last: the role-matrix test walks URLs in order, and a reopen changes what the others see.
workspace_patterns = [
    path("", workspace.queue, name="queue"),
    path("translations/<int:translation_id>/claim/", workspace.translation_claim, name="translation_claim"),
    path("sessions/<int:session_id>/", workspace.session_detail, name="session_detail"),
    path("sessions/<int:session_id>/save/", workspace.code_save, name="code_save"),
    path("sessions/<int:session_id>/run/", workspace.run_create, name="run_create"),
    path("sessions/<int:session_id>/run/stop/", workspace.run_cancel, name="run_cancel"),
    path("sessions/<int:session_id>/restore/", workspace.session_restore, name="session_restore"),
    path("sessions/<int:session_id>/steps/new/", workspace.fix_step_new, name="fix_step_new"),
    path("sessions/<int:session_id>/steps/", workspace.fix_step_create, name="fix_step_create"),
    path("sessions/<int:session_id>/steps/suggest/", workspace.fix_step_suggest, name="fix_step_suggest"),
    path("sessions/<int:session_id>/verify/", workspace.session_verify, name="session_verify"),
    path("sessions/<int:session_id>/contract-runs/", workspace.contract_run_create, name="contract_run_create"),
    path("sessions/<int:session_id>/abandon/", workspace.session_abandon, name="session_abandon"),
    path("steps/<int:step_id>/", workspace.fix_step_detail, name="fix_step_detail"),
    path("steps/<int:step_id>/retract/", workspace.fix_step_retract, name="fix_step_retract"),
    path("sessions/<int:session_id>/reassign/", workspace.session_reassign, name="session_reassign"),
    path("sessions/<int:session_id>/reopen/", workspace.session_reopen, name="session_reopen"),
]

# Admins' contract editor, scaffolds and LLM proposals, under contracts/.
contract_patterns = [
    path("", contracts.contract_list, name="contract_list"),
    path("<slug:key>/", contracts.contract_edit, name="contract_edit"),
    path("<slug:key>/check/", contracts.contract_check, name="contract_check"),
    path("<slug:key>/scaffold/", contracts.contract_scaffold_new, name="contract_scaffold_new"),
    path("<slug:key>/proposals/", contracts.contract_proposal_create, name="contract_proposal_create"),
]

urlpatterns = [
    path("", catalog.home, name="home"),
    path("help/", help.help_page, name="help"),
    path("", include((catalog_patterns, "annotate"))),
    path("dataset/", include((dataset_patterns, "dataset"))),
    path("drafting/", include((drafting_patterns, "drafting"))),
    path("work/", include((workspace_patterns, "workspace"))),
    path("contracts/", include((contract_patterns, "contracts"))),
]
