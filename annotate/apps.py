from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Annotate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The site's private-files check and the receiver that keeps SQLite files 0600.
        from django.contrib.auth.signals import user_logged_out

        from annotate.accounts import said_logged_out
        from t2j_site import private_files  # noqa: F401

        user_logged_out.connect(said_logged_out, dispatch_uid="annotate.accounts.said_logged_out")
