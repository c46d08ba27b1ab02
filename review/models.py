"""The domain's tables: where logs come from, what the models cost, what was routed, what
reviewers said about it."""

import hashlib
import hmac
import secrets
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar, Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Q
from django.utils import timezone

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

KEY_PREFIX_LENGTH = 8
LAST_USED_RESOLUTION = timedelta(minutes=1)
TOKENS_PER_MILLION = Decimal(1_000_000)


class Scope(models.TextChoices):
    """What a gateway key may do. Kept in the key row, checked per request."""

    INGEST = "ingest", "Post decision logs and outcomes"
    POLICY_READ = "policy:read", "Read the active routing policy"
    EXPORT_READ = "export:read", "Download exports"


class Tier(models.Model):
    """An ordered price/capability class; rank 0 is the cheapest."""

    name = models.SlugField(max_length=40, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True)
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name

    def is_cheaper_than(self, other: "Tier") -> bool:
        return self.rank < other.rank


class Gateway(models.Model):
    """A source of decision logs: a LiteLLM proxy, a RouteLLM server, a home-grown router."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


def hash_secret(secret: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash cannot be brute-forced and keeps
    # authentication cheap on the ingestion hot path; a slow password hash buys nothing here.
    return hashlib.sha256(secret.encode()).hexdigest()


class Credential(models.Model):
    """A secret shown once: ``<mark>_<prefix>_<secret>``. Only the prefix (to find the row)
    and a hash of the secret are stored."""

    MARK: ClassVar[str]
    OWNER: ClassVar[str]  # the foreign key authenticate() fetches with the row

    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=KEY_PREFIX_LENGTH, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.MARK}_{self.prefix}_…"

    @classmethod
    def _issue(cls, **fields: object) -> tuple[Self, str]:
        """Create a row and return it with the plaintext, which is never stored."""
        secret = secrets.token_urlsafe(32)
        for attempt in range(3):
            prefix = secrets.token_hex(KEY_PREFIX_LENGTH // 2)
            try:
                # 32-bit prefixes collide once in a blue moon; a fresh one settles it.
                with transaction.atomic():
                    row = cls._default_manager.create(
                        prefix=prefix, secret_hash=hash_secret(secret), **fields
                    )
                return row, f"{cls.MARK}_{prefix}_{secret}"
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    @classmethod
    def authenticate(cls, presented: str) -> Self | None:
        """The live credential matching ``presented``; None if unknown, malformed or revoked."""
        parts = presented.split("_", 2)
        if len(parts) != 3 or parts[0] != cls.MARK or len(parts[1]) != KEY_PREFIX_LENGTH:
            return None
        row = (
            cls._default_manager.select_related(cls.OWNER)
            .filter(prefix=parts[1], revoked_at__isnull=True)
            .first()
        )
        if row is None or not hmac.compare_digest(row.secret_hash, hash_secret(parts[2])):
            return None
        return row

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def note_use(self) -> None:
        """Record that the credential was used: at most one write a minute, since every API
        request authenticates and the hot path should not update a row per request."""
        now = timezone.now()
        if self.last_used_at is None or now - self.last_used_at > LAST_USED_RESOLUTION:
            type(self)._default_manager.filter(pk=self.pk).update(last_used_at=now)


class ApiKey(Credential):
    """A gateway's credential: ``rr_<prefix>_<secret>``, shown once, when issued."""

    MARK = "rr"
    OWNER = "gateway"

    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="api_keys")
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )

    class Meta(Credential.Meta):
        verbose_name = "API key"

    @classmethod
    def issue(
        cls,
        *,
        gateway: Gateway,
        scopes: list[str],
        name: str = "",
        created_by: "AbstractBaseUser | None" = None,
    ) -> tuple["ApiKey", str]:
        """Create a key and return it with its plaintext, which is never stored."""
        validate_scopes(scopes)
        return cls._issue(
            gateway=gateway, name=name, scopes=sorted(set(scopes)), created_by=created_by
        )

    def has_scope(self, scope: str) -> bool:
        return self.revoked_at is None and scope in self.scopes

    def clean(self) -> None:
        validate_scopes(self.scopes)


def validate_scopes(scopes: object) -> None:
    if not isinstance(scopes, list) or not scopes:
        raise ValidationError({"scopes": "Give at least one scope."})
    unknown = sorted(str(s) for s in scopes if s not in Scope.values)
    if unknown:
        raise ValidationError(
            {"scopes": f"Unknown scope {', '.join(unknown)}; use {', '.join(Scope.values)}."}
        )


class CatalogModel(models.Model):
    """A model as gateways name it, with its tier and list prices.

    Names that arrive in logs and match nothing in the catalog are created without a tier
    (*unclassified*) and stay visible as a warning until someone assigns one.
    """

    class Source(models.TextChoices):
        CATALOG = "catalog", "Shipped catalog"
        INGEST = "ingest", "Seen in logs"
        ADMIN = "admin", "Added by hand"

    name = models.CharField(max_length=200, unique=True)
    provider = models.CharField(max_length=60, blank=True)
    tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="models"
    )
    input_price_per_mtok = models.DecimalField(
        "input $ / 1M tokens", max_digits=10, decimal_places=4, null=True, blank=True
    )
    output_price_per_mtok = models.DecimalField(
        "output $ / 1M tokens", max_digits=10, decimal_places=4, null=True, blank=True
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.ADMIN)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier__rank", "name"]
        verbose_name = "model"
        constraints = [
            models.CheckConstraint(
                condition=Q(input_price_per_mtok__gte=0) | Q(input_price_per_mtok__isnull=True),
                name="catalogmodel_input_price_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(output_price_per_mtok__gte=0) | Q(output_price_per_mtok__isnull=True),
                name="catalogmodel_output_price_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_unclassified(self) -> bool:
        return self.tier_id is None

    @property
    def is_priced(self) -> bool:
        return self.input_price_per_mtok is not None and self.output_price_per_mtok is not None

    def cost_of(self, *, input_tokens: int, output_tokens: int) -> Decimal | None:
        """List-price cost in dollars of a call with these token counts, if the model is priced."""
        if self.input_price_per_mtok is None or self.output_price_per_mtok is None:
            return None
        return (
            self.input_price_per_mtok * input_tokens + self.output_price_per_mtok * output_tokens
        ) / TOKENS_PER_MILLION


class ModelAlias(models.Model):
    """Another name gateways log for a catalog model (``openai/gpt-4o-mini``, a dated snapshot)."""

    alias = models.CharField(max_length=200, unique=True)
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="aliases")

    class Meta:
        ordering = ["alias"]
        verbose_name_plural = "model aliases"

    def __str__(self) -> str:
        return self.alias


class Decision(models.Model):
    """One routed request, as a gateway logged it, plus the outcome signals that arrived later."""

    class Status(models.TextChoices):
        SUCCESS = "success", "Success"
        ERROR = "error", "Error"

    class ErrorType(models.TextChoices):
        # Infrastructure failures: they say nothing about whether the tier was right.
        RATE_LIMIT = "rate_limit", "Rate limited (429)"
        TIMEOUT = "timeout", "Timeout"
        PROVIDER_ERROR = "provider_error", "Provider error (5xx)"
        CONFIGURATION = "configuration", "Auth or configuration (401/403/404)"
        # Failures that can mean the model was not up to the request.
        CONTEXT_WINDOW = "context_window", "Context window exceeded"
        CONTENT_FILTER = "content_filter", "Content filtered"
        BAD_REQUEST = "bad_request", "Bad request (4xx)"
        OUTPUT_INVALID = "output_invalid", "Invalid output (parse/validation)"
        OTHER = "other", "Other"

    INFRASTRUCTURE_ERRORS: ClassVar[frozenset[str]] = frozenset(
        {
            ErrorType.RATE_LIMIT,
            ErrorType.TIMEOUT,
            ErrorType.PROVIDER_ERROR,
            ErrorType.CONFIGURATION,
        }
    )

    class CostSource(models.TextChoices):
        LOGGED = "logged", "Logged by the gateway"
        CATALOG = "catalog", "Catalog prices × tokens"

    gateway = models.ForeignKey(Gateway, on_delete=models.PROTECT, related_name="decisions")
    event_id = models.CharField(max_length=200)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=timezone.now)

    # What was served, resolved against the catalog, and what the caller asked for.
    served_model = models.ForeignKey(CatalogModel, on_delete=models.PROTECT, related_name="+")
    served_model_name = models.CharField(max_length=200, help_text="As the gateway logged it.")
    # Copied from the model at ingest so history keeps the tier it was served at; filled in for
    # earlier traffic when an unclassified model gets its tier.
    served_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_model = models.CharField(max_length=200, blank=True)

    # The router's own account of its choice.
    router_name = models.CharField(max_length=100, blank=True)
    router_version = models.CharField(max_length=50, blank=True)
    router_score = models.FloatField(null=True, blank=True)
    router_threshold = models.FloatField(null=True, blank=True)
    router_category = models.CharField(max_length=60, blank=True)
    router_tier = models.CharField(max_length=40, blank=True)
    router_cause = models.CharField(max_length=300, blank=True)
    candidates = models.JSONField(default=list, blank=True)

    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    cost_source = models.CharField(max_length=10, choices=CostSource.choices, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    time_to_first_token_ms = models.PositiveIntegerField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SUCCESS)
    error_type = models.CharField(max_length=20, choices=ErrorType.choices, blank=True)
    error_message = models.TextField(blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)

    # Attempts of one request share a trace id; the chain lists the models tried before this one.
    trace_id = models.CharField(max_length=200, blank=True)
    fallback_chain = models.JSONField(default=list, blank=True)
    retries = models.PositiveSmallIntegerField(default=0)

    # Outcome signals, often posted later than the decision itself.
    user_feedback = models.SmallIntegerField(
        null=True, blank=True, choices=[(1, "positive"), (-1, "negative")]
    )
    judge_score = models.FloatField(null=True, blank=True)
    retried = models.BooleanField(null=True, blank=True)
    escalated = models.BooleanField(null=True, blank=True)
    outcome_updated_at = models.DateTimeField(null=True, blank=True)

    # Null while the post-ingest pipeline has not run on it: the sweep's work list.
    processed_at = models.DateTimeField(null=True, blank=True)
    processing_attempts = models.PositiveSmallIntegerField(default=0)
    # Set after too many failed attempts: shown to operators, no longer retried.
    processing_failed_at = models.DateTimeField(null=True, blank=True)
    processing_error = models.TextField(blank=True)

    prompt_text = models.TextField(blank=True, help_text="Last user turn, redacted.")
    response_excerpt = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            # Idempotency of ingestion: a gateway's retry of the same event is a duplicate.
            models.UniqueConstraint(fields=["gateway", "event_id"], name="decision_event_once"),
            models.CheckConstraint(
                condition=Q(judge_score__isnull=True) | Q(judge_score__gte=0, judge_score__lte=1),
                name="decision_judge_score_in_unit_range",
            ),
            models.CheckConstraint(
                condition=Q(cost_usd__isnull=True) | Q(cost_usd__gte=0),
                name="decision_cost_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(status="error") | Q(error_type=""),
                name="decision_error_type_only_on_error",
            ),
        ]
        indexes = [
            # Explorer default listing and keyset pagination: newest first over a time range.
            models.Index(fields=["occurred_at", "id"], name="decision_time"),
            # Dashboard and explorer filtered by gateway over a time range.
            models.Index(fields=["gateway", "occurred_at"], name="decision_gateway_time"),
            # Cost and calls per day stacked by tier; share of calls per tier.
            models.Index(fields=["served_tier", "occurred_at"], name="decision_tier_time"),
            # Top models by cost or waste; explorer's model filter.
            models.Index(fields=["served_model", "occurred_at"], name="decision_model_time"),
            # Per-category views and the policy's category overrides.
            models.Index(fields=["router_category", "occurred_at"], name="decision_category_time"),
            # Failure rate of cheap-tier calls; explorer's status filter.
            models.Index(fields=["status", "occurred_at"], name="decision_status_time"),
            # Explorer sorted by cost (keyset on cost, then id).
            models.Index(fields=["cost_usd", "id"], name="decision_cost"),
            # Linking the attempts of one request (fallbacks, retries) through the trace id,
            # which is unique only within a gateway.
            models.Index(
                fields=["gateway", "trace_id"], name="decision_trace", condition=~Q(trace_id="")
            ),
            # The hourly catalog sweep: decisions still without a cost, or without a tier.
            models.Index(
                fields=["served_model"],
                name="decision_unpriced",
                condition=Q(cost_usd__isnull=True),
            ),
            models.Index(
                fields=["served_model"],
                name="decision_untiered",
                condition=Q(served_tier__isnull=True),
            ),
            # The pending sweep: decisions the post-ingest pipeline has not processed, oldest first.
            models.Index(
                fields=["received_at"],
                name="decision_pending",
                condition=Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.gateway_id}:{self.event_id}"

    @property
    def failed_for_infrastructure(self) -> bool:
        return self.status == self.Status.ERROR and self.error_type in self.INFRASTRUCTURE_ERRORS


class Verdict(models.TextChoices):
    CORRECT = "correct", "Correct"
    SHOULD_BE_CHEAPER = "should_be_cheaper", "Should be cheaper"
    SHOULD_BE_STRONGER = "should_be_stronger", "Should be stronger"
    NO_MODEL_FITS = "no_model_fits", "No model fits"
    UNSURE = "unsure", "Unsure"


class Label(models.Model):
    """A reviewer's verdict on one decision; each reviewer labels a decision at most once."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="labels")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="labels"
    )
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    right_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["decision", "reviewer"], name="label_once_per_reviewer"
            ),
        ]
        indexes = [
            # Progress per reviewer and the audit of who labelled what, newest first.
            models.Index(fields=["reviewer", "created_at"], name="label_reviewer_time"),
        ]

    def __str__(self) -> str:
        return f"{self.verdict} on {self.decision_id} by {self.reviewer_id}"


class LabelEvent(models.Model):
    """The audit trail: one row per label given or changed, with what it said before."""

    class Action(models.TextChoices):
        CREATED = "created", "Labelled"
        CHANGED = "changed", "Changed"

    class Source(models.TextChoices):
        REVIEW = "review", "Review page"
        API = "api", "API"
        IMPORT = "import", "Import"

    label = models.ForeignKey(Label, null=True, on_delete=models.SET_NULL, related_name="events")
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="label_events")
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="label_events"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    source = models.CharField(max_length=10, choices=Source.choices)
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    right_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    note = models.TextField(blank=True)
    # What the label said before a change: {"verdict", "right_tier", "note"}; null on creation.
    previous = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The audit page, newest first, and one decision's history on its case page.
            models.Index(fields=["at", "id"], name="label_event_time"),
            models.Index(fields=["decision", "at"], name="label_event_decision"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.verdict} on {self.decision_id} by {self.reviewer_id}"


class DemoTruth(models.Model):
    """What the demo generator knows about its own decisions, kept apart from the decision so
    detection cannot read it. For measuring detection only."""

    class Planted(models.TextChoices):
        OVERKILL = "overkill", "Overkill"
        UNDERPOWERED = "underpowered", "Underpowered"

    decision = models.OneToOneField(
        Decision, on_delete=models.CASCADE, primary_key=True, related_name="demo_truth"
    )
    ideal_tier = models.ForeignKey(Tier, on_delete=models.PROTECT, related_name="+")
    planted = models.CharField(max_length=15, choices=Planted.choices, blank=True)
    true_difficulty = models.FloatField()

    class Meta:
        verbose_name = "demo ground truth"
        verbose_name_plural = "demo ground truth"

    def __str__(self) -> str:
        return f"{self.decision_id}: ideal {self.ideal_tier_id}, planted {self.planted or '-'}"


class FlagKind(models.TextChoices):
    OVERKILL = "overkill", "Overkill"
    UNDERPOWERED = "underpowered", "Underpowered"


class DetectorSettings(models.Model):
    """The detection thresholds, edited in the admin. One row; every change is a new revision,
    and the detector version names the revision, so flags say which thresholds made them."""

    revision = models.PositiveIntegerField(default=1, editable=False)
    tier_boundaries = models.JSONField(
        default=list,
        blank=True,
        help_text="Difficulty at which each tier above the cheapest becomes needed, ascending, "
        "one per tier boundary (e.g. [0.3, 0.55, 0.8] for four tiers). Empty: evenly spaced.",
    )
    router_weight = models.FloatField(
        default=0.25,
        help_text="Share of the router's own score in the difficulty, when the gateway logs one.",
    )
    min_confidence = models.FloatField(
        default=0.5, help_text="A decision is flagged when its score reaches this confidence."
    )
    low_judge_score = models.FloatField(
        default=0.5, help_text="Judge scores below this count as a failure signal."
    )
    max_processing_attempts = models.PositiveSmallIntegerField(default=3)
    min_labels_to_train = models.PositiveIntegerField(
        default=100, help_text="Labelled decisions needed before a model is learned from them."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "detector settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(min_confidence__gte=0, min_confidence__lte=1),
                name="detector_min_confidence_in_unit_range",
            ),
            models.CheckConstraint(
                condition=Q(router_weight__gte=0, router_weight__lte=1),
                name="detector_router_weight_in_unit_range",
            ),
        ]

    def __str__(self) -> str:
        return f"detector settings, revision {self.revision}"

    @classmethod
    def current(cls) -> "DetectorSettings":
        settings_row = cls.objects.order_by("pk").first()
        return settings_row if settings_row is not None else cls.objects.create()

    def clean(self) -> None:
        boundaries = self.tier_boundaries
        if not isinstance(boundaries, list) or not all(
            isinstance(b, int | float) and 0 < b < 1 for b in boundaries
        ):
            raise ValidationError({"tier_boundaries": "Give numbers between 0 and 1."})
        if boundaries != sorted(boundaries):
            raise ValidationError({"tier_boundaries": "Give the boundaries in ascending order."})
        tiers = Tier.objects.count()
        if boundaries and tiers and len(boundaries) != tiers - 1:
            raise ValidationError(
                {
                    "tier_boundaries": f"Give {tiers - 1} boundaries, one between each of the "
                    f"{tiers} tiers."
                }
            )


class Assessment(models.Model):
    """What detection computed for a decision; recomputed when the detector changes."""

    decision = models.OneToOneField(
        Decision, on_delete=models.CASCADE, primary_key=True, related_name="assessment"
    )
    difficulty = models.FloatField()
    needed_tier = models.ForeignKey(Tier, null=True, on_delete=models.PROTECT, related_name="+")
    features = models.JSONField(default=dict)
    # How strongly each flag kind is suggested, flagged or not: ranks can be evaluated outside.
    overkill_score = models.FloatField(default=0)
    underpowered_score = models.FloatField(default=0)
    detector_version = models.CharField(max_length=40)
    assessed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            # The difficulty distribution per served tier, and re-scoring by detector version.
            models.Index(fields=["detector_version"], name="assessment_version"),
        ]

    def __str__(self) -> str:
        return f"{self.decision_id}: difficulty {self.difficulty:.2f}"


class Flag(models.Model):
    """A suspected misroute, with the reasons a reviewer can check at a glance."""

    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=15, choices=FlagKind.choices)
    confidence = models.FloatField()
    dollars = models.DecimalField(max_digits=14, decimal_places=8)
    reasons = models.JSONField(default=list)
    detector_version = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Re-running a detector version on a decision cannot flag it twice.
            models.UniqueConstraint(
                fields=["decision", "kind", "detector_version"], name="flag_once_per_version"
            ),
        ]
        indexes = [
            # The weekly round's pick: flags of a kind by priority, and flags per week by kind.
            models.Index(fields=["kind", "created_at"], name="flag_kind_time"),
            # The explorer sorted by confidence: the current version's flags, most confident first.
            models.Index(
                fields=["detector_version", "confidence", "decision"], name="flag_confidence"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on {self.decision_id} ({self.confidence:.2f})"


class DetectorModel(models.Model):
    """A model learned from reviewer labels, versioned, used for a flag kind only while it ranked
    held-out labels better than the heuristic did."""

    version = models.PositiveIntegerField(unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    labels_used = models.PositiveIntegerField()
    # Per kind: held-out size, positives, the model's and the heuristic's ROC AUC.
    metrics = models.JSONField(default=dict)
    adopted_kinds = models.JSONField(default=list)
    reason = models.TextField()
    # Pickled scikit-learn estimators; only ever written and read by this application.
    blob = models.BinaryField()

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        adopted = ", ".join(self.adopted_kinds) or "not adopted"
        return f"learned model v{self.version} ({adopted})"


class ReviewRound(models.Model):
    """The ops team's review of one ISO week of traffic, opened on the Monday after it."""

    week_start = models.DateField(unique=True, help_text="The Monday of the week reviewed.")
    opened_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    size = models.PositiveIntegerField(default=100, help_text="Flagged decisions queued.")
    per_kind_cap = models.PositiveIntegerField(default=60, help_text="At most this many per kind.")
    sample_size = models.PositiveIntegerField(
        default=20, help_text="Unflagged decisions queued at random, to estimate what is missed."
    )
    labels_per_item = models.PositiveSmallIntegerField(
        default=1, choices=[(1, "one reviewer"), (2, "two reviewers")]
    )
    lock_minutes = models.PositiveSmallIntegerField(default=15)

    class Meta:
        ordering = ["-week_start"]

    def __str__(self) -> str:
        year, week, _ = self.week_start.isocalendar()
        return f"{year}-W{week:02d}"


class QueueItem(models.Model):
    """A decision in a round: why it is there, how urgent, and who holds it right now."""

    class Source(models.TextChoices):
        FLAG = "flag", "Flagged"
        SAMPLE = "sample", "Random sample"

    round = models.ForeignKey(ReviewRound, on_delete=models.CASCADE, related_name="items")
    decision = models.ForeignKey(Decision, on_delete=models.CASCADE, related_name="queue_items")
    flag = models.ForeignKey(Flag, null=True, blank=True, on_delete=models.SET_NULL)
    source = models.CharField(max_length=10, choices=Source.choices)
    priority = models.FloatField(default=0)
    position = models.PositiveIntegerField()
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round", "position"]
        constraints = [
            models.UniqueConstraint(fields=["round", "decision"], name="queue_item_once_per_round"),
        ]
        indexes = [
            # A reviewer's next item: the round's items in order.
            models.Index(fields=["round", "position"], name="queue_item_order"),
        ]

    def __str__(self) -> str:
        return f"{self.round} #{self.position}"


class UserToken(Credential):
    """A person's access token for the read/label API, with that person's permissions:
    ``rru_<prefix>_<secret>``, shown once, when issued. Gateway keys (``rr_…``) are a different
    credential and never stand in for a person."""

    MARK = "rru"
    OWNER = "user"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )

    class Meta(Credential.Meta):
        verbose_name = "personal access token"

    @classmethod
    def issue(cls, *, user: "AbstractBaseUser", name: str = "") -> tuple["UserToken", str]:
        """Create a token for ``user`` and return it with its plaintext, which is never stored."""
        return cls._issue(user=user, name=name)


class PolicyVersion(models.Model):
    """A routing policy the gateways apply themselves: rules on the router's own score, category
    and the prompt (see ``review.policy``). Exactly one version is active at a time."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        RETIRED = "retired", "Retired"

    class Origin(models.TextChoices):
        MANUAL = "manual", "Written by hand"
        FITTED = "fitted", "Fitted on labels"
        DEMO = "demo", "The demo router's policy"

    number = models.PositiveIntegerField(unique=True, editable=False)
    rules = models.JSONField(help_text="Validated against review.policy.RULES_SCHEMA.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.MANUAL)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    # Why it exists: the fitter's explanation of each change, or the author's words.
    explanation = models.JSONField(default=list, blank=True)
    fit_report = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    activation_note = models.TextField(blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            # The database, not a check in Python, keeps two activations from both winning.
            models.UniqueConstraint(
                fields=["status"], condition=Q(status="active"), name="policy_one_active"
            ),
        ]
        permissions = [("activate_policyversion", "Can activate a routing policy version")]

    def __str__(self) -> str:
        return f"policy v{self.number}"

    @property
    def summary(self) -> str:
        """Why it exists, in one line: the activation note, else its first explanation."""
        return self.activation_note or (str(self.explanation[0]) if self.explanation else "")


class PolicyReplay(models.Model):
    """A what-if run of one policy version over a range of recent decisions, done as a job."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="replays")
    since = models.DateTimeField()
    until = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    figures = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The latest replay of a version over a range, shown on the compare page.
            models.Index(fields=["version", "since", "until"], name="policy_replay_range"),
        ]

    def __str__(self) -> str:
        return f"replay of {self.version} ({self.status})"

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


class Export(models.Model):
    """A file of decisions for retraining a router, written by a job from the explorer's
    filters (see ``review.exports``). The row keeps the filters, the counts and the checksum
    after the file itself has expired."""

    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON lines (canonical)"
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"
        ROUTELLM_PAIRS = "routellm_pairs", "RouteLLM pairwise preferences (JSON lines)"
        ROUTELLM_EVAL = "routellm_eval", "RouteLLM evaluation CSV"
        HF_DATASET = "hf_dataset", "Hugging Face dataset (zip: Parquet splits and a card)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired"

    format = models.CharField(max_length=20, choices=Format.choices)
    # The explorer's query parameters as given (strings), so the export can be reproduced and
    # opened in the explorer; ``after`` and ``limit`` never: an export holds every page.
    filters = models.JSONField(default=dict, blank=True)
    # The detector version whose flags the flag filter and the flag columns use, fixed when the
    # export is created so a detector change mid-job cannot change what it selects.
    detector_version = models.CharField(max_length=40)
    test_percent = models.PositiveSmallIntegerField(
        default=0, help_text="Share of decisions in the test split, by a hash of the event id."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(default=0, help_text="Decisions selected.")
    done = models.PositiveIntegerField(default=0, help_text="Decisions read so far.")
    row_count = models.PositiveIntegerField(null=True, blank=True, help_text="Rows in the file.")
    checksum = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the file.")
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    file_name = models.CharField(max_length=200, blank=True, help_text="Under EXPORT_DIR.")
    # Rows per split, verdicts, right tiers and agreement: what the dataset card also shows.
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # Written with every chunk: a running export whose heartbeat stops had its worker die.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(test_percent__lte=99), name="export_test_percent_below_100"
            ),
        ]
        indexes = [
            # The sweeps: exports waiting or running too long, and finished files to expire.
            models.Index(fields=["status", "heartbeat_at"], name="export_status_heartbeat"),
            models.Index(fields=["expires_at"], name="export_expiry", condition=Q(status="done")),
        ]
        permissions = [("download_export", "Can download an export's file")]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.format}, {self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return min(100, round(100 * self.done / self.total)) if self.total else 0

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


# --- Dashboard rollups ------------------------------------------------------------------------
# Daily pre-aggregates of the decisions, kept by ``review.rollups`` so the dashboard never scans
# the decisions table. One row per UTC day, gateway, served model, served tier and category.

# Upper bounds (inclusive) of the latency histogram's buckets, in milliseconds: ten per decade,
# so a percentile read from the buckets is within one bucket (about 26%) of the exact one. A
# last bucket counts everything slower.
LATENCY_BUCKETS_MS = (
    *(50, 63, 80, 100, 125, 160, 200, 250, 320, 400, 500, 630, 800),
    *(1_000, 1_250, 1_600, 2_000, 2_500, 3_200, 4_000, 5_000, 6_300, 8_000),
    *(10_000, 12_500, 16_000, 20_000, 25_000, 32_000, 40_000, 50_000, 63_000, 80_000),
    *(100_000, 125_000),
)
# Difficulty in [0, 1] is counted in ten buckets of 0.1; the last one includes 1.
DIFFICULTY_BUCKETS = 10


def latency_field(index: int) -> str:
    """The rollup column counting the ``index``-th latency bucket (the last is the overflow)."""
    if index == len(LATENCY_BUCKETS_MS):
        return f"latency_over_{LATENCY_BUCKETS_MS[-1]}"
    return f"latency_le_{LATENCY_BUCKETS_MS[index]}"


def difficulty_field(index: int) -> str:
    return f"difficulty_{index}"


LATENCY_FIELDS = tuple(latency_field(i) for i in range(len(LATENCY_BUCKETS_MS) + 1))
DIFFICULTY_FIELDS = tuple(difficulty_field(i) for i in range(DIFFICULTY_BUCKETS))


class RollupKey(models.Model):
    """The dimensions every rollup shares: what the dashboard's filters select on."""

    day = models.DateField(help_text="UTC day of the decisions.")
    # Cascades: a rollup is derived data and must not keep a merged-away model alive.
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    model = models.ForeignKey(CatalogModel, on_delete=models.CASCADE, related_name="+")
    tier = models.ForeignKey(Tier, null=True, on_delete=models.CASCADE, related_name="+")
    category = models.CharField(max_length=60, blank=True)

    class Meta:
        abstract = True


class TrafficCounts(models.Model):
    """What a traffic rollup counts: calls, cost, failures, and histograms of latency and of
    the assessed difficulty (the bucket columns are added below the class)."""

    decisions = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal(0))
    # Calls that failed in a way that can mean the model was not up to it: an error other than
    # an infrastructure one, a thumbs-down, a retry, an escalation, a judge score below 0.5.
    failures = models.PositiveIntegerField(default=0)
    assessed = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


# Generated rather than written out: 36 latency and 10 difficulty counters, named by bound.
# Added to the abstract class before the rollups below inherit from it.
for _name in (*LATENCY_FIELDS, *DIFFICULTY_FIELDS):
    TrafficCounts.add_to_class(_name, models.PositiveIntegerField(default=0))
del _name


class DailyRollup(RollupKey, TrafficCounts):
    """Traffic of one day and key."""

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "gateway", "model", "tier", "category"], name="daily_rollup_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.gateway_id}/{self.model_id}/{self.category}: {self.decisions}"


class DailyGatewayRollup(TrafficCounts):
    """``DailyRollup`` summed over models and categories: per day, gateway and tier, about a
    hundredth of its rows. Views filtered by neither model nor category read this one."""

    day = models.DateField()
    gateway = models.ForeignKey(Gateway, on_delete=models.CASCADE, related_name="+")
    tier = models.ForeignKey(Tier, null=True, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "gateway", "tier"], name="daily_gateway_rollup_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.gateway_id}/{self.tier_id}: {self.decisions}"


class DailyFlagRollup(RollupKey):
    """Flags of one day and key, per detector version and kind, with how reviewers judged them:
    ``reviewed`` flags have a first label other than *unsure*, ``confirmed`` ones a first label
    in the flag's direction (cheaper for overkill, stronger for underpowered)."""

    detector_version = models.CharField(max_length=40)
    kind = models.CharField(max_length=15, choices=FlagKind.choices)
    flags = models.PositiveIntegerField(default=0)
    dollars = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal(0))
    reviewed = models.PositiveIntegerField(default=0)
    confirmed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "gateway", "model", "tier", "category", "detector_version", "kind"],
                name="daily_flag_rollup_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.kind} ({self.detector_version}): {self.flags}"


class DailyReviewRollup(RollupKey):
    """Labelled decisions of one day and key, by their first label (the verdict of record) and
    right tier, the second label's verdict where there is one (for agreement), and whether the
    decision was in a round's random sample (for the miss rate)."""

    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    right_tier = models.ForeignKey(Tier, null=True, on_delete=models.CASCADE, related_name="+")
    second_verdict = models.CharField(max_length=20, blank=True)
    sampled = models.BooleanField(default=False)
    decisions = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["day"], name="daily_review_rollup_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.verdict}: {self.decisions}"


class RollupDay(models.Model):
    """A day the rollups cover; its row is locked while the day is rebuilt, so two rebuilds of
    one day take turns."""

    day = models.DateField(unique=True)
    refreshed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.day} (refreshed {self.refreshed_at:%Y-%m-%d %H:%M})"


class RollupChange(models.Model):
    """A day whose decisions, assessments, flags or labels changed since its rollups were built:
    the refresh task's work list. Rows are only ever inserted by writers (never updated), so
    writers never wait on one another or on a refresh."""

    day = models.DateField()
    noted_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["day"], name="rollup_change_day")]

    def __str__(self) -> str:
        return f"{self.day} changed at {self.noted_at:%Y-%m-%d %H:%M:%S}"
