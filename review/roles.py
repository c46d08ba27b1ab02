"""The team's roles as Django groups, each a set of permissions that includes the one below."""

from django.contrib.auth.models import Group, Permission

VIEWER = "viewer"
REVIEWER = "reviewer"
POLICY_OWNER = "policy owner"
ADMIN = "admin"

VIEW = [
    "view_decision",
    "view_flag",
    "view_label",
    "view_assessment",
    "view_reviewround",
    "view_queueitem",
    "view_catalogmodel",
    "view_tier",
    "view_gateway",
    "view_detectorsettings",
    "view_detectormodel",
    "view_policyversion",
    "view_policyreplay",
    # Exports hold what every role reads already (prompts, flags, labels): any role may list
    # and download them. Making one costs a worker's time, so that starts at reviewer.
    "view_export",
    "download_export",
]
PERMISSIONS: dict[str, list[str]] = {
    VIEWER: VIEW,
    REVIEWER: [*VIEW, "add_label", "change_label", "add_export"],
    POLICY_OWNER: [
        *VIEW,
        "add_label",
        "change_label",
        "change_detectorsettings",
        # Opening a round by hand, and changing its settings.
        "add_reviewround",
        "change_reviewround",
        # Writing and fitting policy versions, replaying them, making one active.
        "add_policyversion",
        "activate_policyversion",
        "add_policyreplay",
        # Making exports, and cancelling anyone's (a reviewer cancels only their own).
        "add_export",
        "change_export",
    ],
}


def ensure_roles() -> dict[str, int]:
    """Create or update the role groups; returns each role's number of permissions.

    Admins get every permission of this app and of user management. Running it again changes
    nothing; permissions a group gained by hand are kept.
    """
    counts = {}
    review_permissions = Permission.objects.filter(content_type__app_label="review")
    for role, codenames in PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.add(*review_permissions.filter(codename__in=codenames))
        counts[role] = group.permissions.count()
    admin, _ = Group.objects.get_or_create(name=ADMIN)
    admin.permissions.add(
        *review_permissions,
        *Permission.objects.filter(content_type__app_label="auth"),
    )
    counts[ADMIN] = admin.permissions.count()
    return counts
