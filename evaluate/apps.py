from django.apps import AppConfig


class EvaluateConfig(AppConfig):
    name = "evaluate"
    verbose_name = "Evaluate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # annotate never imports evaluate: it sends signals, and the stored dashboard listens. The dashboard
        # (domain) never imports tasks: it says a refresh was queued, and the task module enqueues it.
        from annotate.signals import data_imported, fix_session_changed
        from evaluate import dashboard, tasks
        from evaluate.metrics import fixcost

        # FixCost first: the dashboard refresh queued by the next receiver must see the new figure.
        fix_session_changed.connect(fixcost.session_changed, dispatch_uid="evaluate.fixcost.fix_session_changed")
        data_imported.connect(dashboard.data_changed, dispatch_uid="evaluate.dashboard.data_imported")
        fix_session_changed.connect(dashboard.data_changed, dispatch_uid="evaluate.dashboard.fix_session_changed")
        dashboard.refresh_queued.connect(tasks.enqueue_refresh, dispatch_uid="evaluate.tasks.enqueue_refresh")
