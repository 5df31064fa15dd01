from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

# Over-limit bodies, too many fields or files: a page (or JSON) naming the limit instead of a bare 400.
handler400 = "t2j_site.errors.bad_request"

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    # Home, samples, systems, jobs, and the dataset/, drafting/, work/ and contracts/ pages.
    path("", include("annotate.urls")),
    path("evaluate/", include("evaluate.urls")),
]
