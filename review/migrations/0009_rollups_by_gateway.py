# The dashboard's rollups per day, gateway and tier (review.models.DailyGatewayRollup), and the
# join of the migrations written in parallel on top of 0004 (exports, rollups, policies).

import django.db.models.deletion
from decimal import Decimal
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('review', '0005_exports'),
        ('review', '0008_merge_rollups_policies'),
    ]

    operations = [
        migrations.CreateModel(
            name='DailyGatewayRollup',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('decisions', models.PositiveIntegerField(default=0)),
                ('cost_usd', models.DecimalField(decimal_places=8, default=Decimal('0'), max_digits=18)),
                ('failures', models.PositiveIntegerField(default=0)),
                ('assessed', models.PositiveIntegerField(default=0)),
                ('latency_le_50', models.PositiveIntegerField(default=0)),
                ('latency_le_63', models.PositiveIntegerField(default=0)),
                ('latency_le_80', models.PositiveIntegerField(default=0)),
                ('latency_le_100', models.PositiveIntegerField(default=0)),
                ('latency_le_125', models.PositiveIntegerField(default=0)),
                ('latency_le_160', models.PositiveIntegerField(default=0)),
                ('latency_le_200', models.PositiveIntegerField(default=0)),
                ('latency_le_250', models.PositiveIntegerField(default=0)),
                ('latency_le_320', models.PositiveIntegerField(default=0)),
                ('latency_le_400', models.PositiveIntegerField(default=0)),
                ('latency_le_500', models.PositiveIntegerField(default=0)),
                ('latency_le_630', models.PositiveIntegerField(default=0)),
                ('latency_le_800', models.PositiveIntegerField(default=0)),
                ('latency_le_1000', models.PositiveIntegerField(default=0)),
                ('latency_le_1250', models.PositiveIntegerField(default=0)),
                ('latency_le_1600', models.PositiveIntegerField(default=0)),
                ('latency_le_2000', models.PositiveIntegerField(default=0)),
                ('latency_le_2500', models.PositiveIntegerField(default=0)),
                ('latency_le_3200', models.PositiveIntegerField(default=0)),
                ('latency_le_4000', models.PositiveIntegerField(default=0)),
                ('latency_le_5000', models.PositiveIntegerField(default=0)),
                ('latency_le_6300', models.PositiveIntegerField(default=0)),
                ('latency_le_8000', models.PositiveIntegerField(default=0)),
                ('latency_le_10000', models.PositiveIntegerField(default=0)),
                ('latency_le_12500', models.PositiveIntegerField(default=0)),
                ('latency_le_16000', models.PositiveIntegerField(default=0)),
                ('latency_le_20000', models.PositiveIntegerField(default=0)),
                ('latency_le_25000', models.PositiveIntegerField(default=0)),
                ('latency_le_32000', models.PositiveIntegerField(default=0)),
                ('latency_le_40000', models.PositiveIntegerField(default=0)),
                ('latency_le_50000', models.PositiveIntegerField(default=0)),
                ('latency_le_63000', models.PositiveIntegerField(default=0)),
                ('latency_le_80000', models.PositiveIntegerField(default=0)),
                ('latency_le_100000', models.PositiveIntegerField(default=0)),
                ('latency_le_125000', models.PositiveIntegerField(default=0)),
                ('latency_over_125000', models.PositiveIntegerField(default=0)),
                ('difficulty_0', models.PositiveIntegerField(default=0)),
                ('difficulty_1', models.PositiveIntegerField(default=0)),
                ('difficulty_2', models.PositiveIntegerField(default=0)),
                ('difficulty_3', models.PositiveIntegerField(default=0)),
                ('difficulty_4', models.PositiveIntegerField(default=0)),
                ('difficulty_5', models.PositiveIntegerField(default=0)),
                ('difficulty_6', models.PositiveIntegerField(default=0)),
                ('difficulty_7', models.PositiveIntegerField(default=0)),
                ('difficulty_8', models.PositiveIntegerField(default=0)),
                ('difficulty_9', models.PositiveIntegerField(default=0)),
                ('day', models.DateField()),
                ('gateway', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='review.gateway')),
                ('tier', models.ForeignKey(null=True, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='review.tier')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('day', 'gateway', 'tier'), name='daily_gateway_rollup_once')],
            },
        ),
    ]
