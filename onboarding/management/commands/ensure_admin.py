import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the admin user if it does not exist (ADMIN_USERNAME, ADMIN_PASSWORD from the "
        "environment; a password is generated and printed when none is given)."
    )

    def handle(self, *args, **options):
        User = get_user_model()
        username = os.environ.get("ADMIN_USERNAME", "admin")
        password = os.environ.get("ADMIN_PASSWORD", "")
        user = User.objects.filter(username=username).first()
        if user and not password:
            self.stdout.write(f"Admin login: {username} (existing user; password unchanged)")
            return
        password = password or secrets.token_urlsafe(12)
        if user is None:
            User.objects.create_superuser(username=username, email="", password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(f"Admin login: {username} / {password}")
