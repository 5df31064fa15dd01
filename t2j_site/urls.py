from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from annotate import views as annotate_views

urlpatterns = [
    path("", annotate_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("annotate.urls")),
    path("dataset/", include("annotate.dataset_urls")),
    path("drafting/", include("annotate.drafting_urls")),
    path("work/", include("annotate.workspace_urls")),
    path("contracts/", include("annotate.contract_urls")),
    path("evaluate/", include("evaluate.urls")),
]
