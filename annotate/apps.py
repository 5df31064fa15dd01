from django.apps import AppConfig


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = "Annotate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # The site's private-files check and the receiver that keeps SQLite files 0600.
        from t2j_site import private_files  # noqa: F401
