# Joins two migrations written in parallel on top of 0004: the dashboard's rollups and the
# routing policies. Neither touches the other's tables.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("review", "0006_rollups"),
        ("review", "0007_policies"),
    ]

    operations = []
