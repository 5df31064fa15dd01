from django.apps import AppConfig
from django.db.models.signals import post_save


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Annotate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The site's private-files check and the receiver that keeps SQLite files 0600.
        # The similar-fix index follows the steps and their sessions' status (annotate.similarity_index).
        from django.contrib.auth.signals import user_logged_out

        from annotate import signals, similarity_index
        from annotate.accounts import said_logged_out
        from annotate.models import FixSession, FixStep
        from t2j_site import private_files  # noqa: F401

        user_logged_out.connect(said_logged_out, dispatch_uid="annotate.accounts.said_logged_out")
        post_save.connect(similarity_index.step_saved, sender=FixStep, dispatch_uid="similarity_index.step")
        post_save.connect(similarity_index.session_saved, sender=FixSession, dispatch_uid="similarity_index.session")
        signals.fix_session_changed.connect(similarity_index.session_changed, dispatch_uid="similarity_index.changed")
        signals.data_imported.connect(similarity_index.data_imported, dispatch_uid="similarity_index.imported")
