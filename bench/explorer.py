"""Explorer latency: one page of decisions, as the explorer asks for it, on a large table in
PostgreSQL; p50 and p95 per view against the 200 ms target.

    .venv/bin/python bench/explorer.py                       # 1,000,000 decisions, as in the issue
    .venv/bin/python bench/explorer.py --decisions 100000    # a quicker look
    .venv/bin/python bench/explorer.py --explain             # and each view's query plan

It creates (and drops first) its own database, ``routing_review_bench`` by default.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import INSERT_DECISION_COLUMNS, prepare  # noqa: E402

TARGET_MS = 200
DAYS = 90
# Gateways and their share of the traffic, in percent; the smallest is the filtered view's.
GATEWAYS = {
    "litellm-eu": 40,
    "litellm-us": 30,
    "routellm-batch": 15,
    "bench-gateway": 10,
    "support-bot": 5,
}
# A word planted in about 1% of prompts, and one in about 1 in 20,000: neither occurs in the
# prompt material otherwise, so the text search views find exactly these.
COMMON_WORD = "reconciliation"
COMMON_SHARE = 0.01
RARE_WORD = "zeppelin"
RARE_SHARE = 1 / 20_000
FLAGGED_SHARE = 0.08
PROMPT_POOL = 5_000
VOCABULARY = 4_000
# Served models are picked by slot within their tier, slot modulo the tier's model count: 84
# is a multiple of the shipped catalog's counts (7, 6, 6, 4), so each model is equally likely.
MODEL_SLOTS = 84
UNPRICED_MODEL = "acme-internal-7b"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per view")
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of each view's page query"
    )
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--database", default="routing_review_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    prepare(args.server, args.database, args.redis_url)
    from django.utils import timezone

    now = timezone.now()
    print(f"Explorer benchmark: {args.decisions:,} decisions over {DAYS} days")
    began = time.perf_counter()
    counts = fill(args.decisions, now=now, seed=5)
    load_seconds = time.perf_counter() - began
    print(
        f"  loaded {counts['decisions']:,} decisions, {counts['flags']:,} flags, "
        f"{counts['labels']:,} labels in {load_seconds:.1f} s (decision rows "
        f"{counts['rows_seconds']:.1f} s, index builds {counts['index_seconds']:.1f} s; "
        f"flags, labels and VACUUM ANALYZE the rest)"
    )

    results, single_page = [], []
    for view, query, page in views(now):
        result = measure(view, query, page, args)
        if result is None:
            single_page.append(view)
        else:
            results.append(result)
    print(
        f"  one page of 50 (limit + 1 fetched), form validation included; "
        f"{args.repeat} timed runs per view after one warm-up; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"  {'view':<46} {'p50 ms':>8} {'p95 ms':>8} {'rows':>6}")
    for result in results:
        print(
            f"  {result['view']:<46} {result['p50']:>8.1f} {result['p95']:>8.1f} "
            f"{result['rows']:>6}"
        )
    for view in single_page:
        print(f"  {view:<46} {'(a single page at this size)':>24}")
    slowest = max(results, key=lambda result: result["p95"])
    verdict = "met" if slowest["p95"] < TARGET_MS else "MISSED"
    print(
        f"  slowest p95: {slowest['p95']:.1f} ms ({slowest['view']}) against the "
        f"{TARGET_MS} ms target: {verdict}"
    )


def views(now: datetime) -> list[tuple[str, str, int]]:
    """The explorer views measured: name, query string, and which page of it (page 2 through
    the cursor the explorer gave out with page 1)."""
    from django.db import connection

    from review.explorer import encode_cursor

    # Encoded: the offset's "+" would read as a space.
    week_ago = urlencode({"since": (now - timedelta(days=7)).isoformat()})
    # Cursors halfway through the table, as if someone had paged that far back (or shared such
    # a URL): the time order follows the table's physical order, the cost order does not.
    halfway_in_time = encode_cursor(now - timedelta(days=DAYS // 2), 2**62)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY cost_usd) FROM review_decision"
        )
        halfway_in_cost = encode_cursor(cursor.fetchone()[0], 2**62)
    return [
        ("default (newest first)", "", 1),
        ("last 7 days", week_ago, 1),
        ("gateway=support-bot (5%)", "gateway=support-bot", 1),
        ("tier=reasoning & category=greeting", "tier=reasoning&category=greeting", 1),
        ("status=error", "status=error", 1),
        ("flag=overkill", "flag=overkill", 1),
        ("label=any", "label=any", 1),
        ("sort=cost desc", "sort=cost&order=desc", 1),
        ("sort=confidence desc", "sort=confidence&order=desc", 1),
        (f"q={COMMON_WORD} (~1% of prompts)", f"q={COMMON_WORD}", 1),
        (f"q={RARE_WORD} (rare)", f"q={RARE_WORD}", 1),
        ("default, page 2", "", 2),
        ("gateway=support-bot, page 2", "gateway=support-bot", 2),
        ("sort=cost desc, page 2", "sort=cost&order=desc", 2),
        (f"q={COMMON_WORD}, page 2", f"q={COMMON_WORD}", 2),
        ("default, cursor halfway (45 days back)", f"after={halfway_in_time}", 1),
        (
            "sort=cost desc, cursor halfway (median cost)",
            f"sort=cost&order=desc&after={halfway_in_cost}",
            1,
        ),
    ]


def measure(view: str, query: str, page: int, args: argparse.Namespace) -> dict | None:
    """p50 and p95 of the view, and the rows of its page; None if it has no such page (a small
    table)."""
    from review import explorer

    if page == 2:
        first = explorer.page(valid(query).cleaned_data)
        if first.next_cursor is None:
            return None
        query = f"{query}&after={first.next_cursor}".lstrip("&")

    def run() -> explorer.Page:
        return explorer.page(valid(query).cleaned_data)

    found = run()  # warm-up: the plan's pages in the buffer cache, as on a server in use
    timings = []
    for _ in range(args.repeat):
        began = time.perf_counter()
        found = run()
        timings.append((time.perf_counter() - began) * 1000)
    if args.explain:
        explain(view, query)
    timings.sort()
    return {
        "view": view,
        "p50": statistics.median(timings),
        # Nearest rank: with 20 runs, the 19th fastest.
        "p95": timings[round(0.95 * (len(timings) - 1))],
        "rows": len(found.decisions),
    }


def valid(query: str):  # -> explorer.FilterForm, importable once Django is set up
    from django.http import QueryDict

    from review import explorer

    form = explorer.FilterForm(QueryDict(query))
    assert form.is_valid(), form.errors
    return form


def explain(view: str, query: str) -> None:
    """The plan of the page's own query (the one with the limit), run once more for it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from review import explorer

    data = valid(query).cleaned_data
    with CaptureQueriesContext(connection) as captured:
        explorer.page(data)
    sql = next(
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].startswith('SELECT "review_decision"') and "LIMIT" in q["sql"]
    )
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        plan = "\n".join(f"      {row[0]}" for row in cursor.fetchall())
    # The columns listed make the statement unreadable; the rest tells the query apart.
    sql = "SELECT … " + sql[sql.index(' FROM "review_decision"') + 1 :]
    print(f"  -- {view}: {query or '(no filters)'}\n      {sql}\n{plan}")


def fill(count: int, *, now: datetime, seed: int) -> dict[str, float]:
    """Decisions, flags and labels generated in the database itself: the prompts' material
    (templates, vocabulary) is copied in, every row is built by INSERT … SELECT over
    generate_series. bench/detect.py's fill_table builds each row in Python, about 5,000 rows/s:
    over three minutes for a million, before any index. Returns the counts and the seconds spent
    on rows and on index builds."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from review.detection import Detector
    from review.models import CatalogModel, Gateway

    rng = random.Random(seed)
    for name in GATEWAYS:
        Gateway.objects.get_or_create(name=name)
    # A model seen in logs but not in the catalog: no tier, no price, so no cost either.
    CatalogModel.objects.get_or_create(
        name=UNPRICED_MODEL, defaults={"source": CatalogModel.Source.INGEST}
    )
    User = get_user_model()
    reviewers = [User.objects.create_user(name).pk for name in ("reviewer-ana", "reviewer-ben")]
    version = Detector.current().version

    began = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        copy_material(cursor.cursor, rng)
        cursor.execute(f"SELECT setseed({rng.random() * 2 - 1})")  # reproducible random()
        # Building an index once over the loaded table is several times faster than updating
        # it row by row, the trigram index above all; the table ends with the same indexes.
        # Those behind constraints (primary key, unique event) stay.
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'review_decision' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint "
            "WHERE conrelid = 'review_decision'::regclass)"
        )
        indexes = cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(
            INSERT_DECISIONS,
            {
                "count": count,
                "start": now - timedelta(days=DAYS),
                "step": timedelta(days=DAYS) / count,
                "common_share": COMMON_SHARE,
                "common_sentence": f" Please attach the {COMMON_WORD} totals.",
                "rare_share": RARE_SHARE,
                "rare_sentence": f" Mention the {RARE_WORD} campaign.",
                "prompts": PROMPT_POOL,
                "vocabulary": VOCABULARY,
                "slots": MODEL_SLOTS,
            },
        )
    # Counted with the commit: the deferred foreign key checks run there.
    rows_seconds = time.perf_counter() - began

    began = time.perf_counter()
    with connection.cursor() as cursor:
        # A single GIN build sorts its trigrams in memory; the default 64 MB spills.
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, definition in indexes:
            cursor.execute(definition)
        cursor.execute("RESET maintenance_work_mem")
    index_seconds = time.perf_counter() - began

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(INSERT_FLAGS, {"share": FLAGGED_SHARE, "version": version})
        labelled = max(20, count * 3 // 1000)
        cursor.execute(
            INSERT_LABELS,
            {
                "flagged": labelled * 4 // 5,
                "unflagged": labelled - labelled * 4 // 5,
                "first": reviewers[0],
                "second": reviewers[1],
                "now": now,
            },
        )
    with connection.cursor() as cursor:
        # As autovacuum would after a bulk load: the plans depend on the statistics, and
        # index-only scans on the visibility map.
        for table in ("decision", "flag", "label"):
            cursor.execute(f"VACUUM ANALYZE review_{table}")
        found: dict[str, float] = {"rows_seconds": rows_seconds, "index_seconds": index_seconds}
        for table in ("decision", "flag", "label"):
            cursor.execute(f"SELECT count(*) FROM review_{table}")
            found[f"{table}s"] = cursor.fetchone()[0]
    return found


def copy_material(cursor, rng: random.Random) -> None:
    """Temporary tables the INSERT … SELECT draws from: prompts, vocabulary, models, gateways.
    The catalog's tiers and models are those prepare() loaded (manage.py load_catalog)."""
    from review.models import CatalogModel, Gateway, Tier

    cursor.execute(
        "CREATE TEMP TABLE bench_prompt (id int PRIMARY KEY, category text, needed_rank int, "
        "text text, response text) ON COMMIT DROP"
    )
    with cursor.copy("COPY bench_prompt FROM STDIN") as copy:
        for number, row in enumerate(prompt_pool(rng, PROMPT_POOL)):
            copy.write_row((number, *row))

    cursor.execute("CREATE TEMP TABLE bench_word (id int PRIMARY KEY, word text) ON COMMIT DROP")
    with cursor.copy("COPY bench_word FROM STDIN") as copy:
        for number, word in enumerate(vocabulary(rng, VOCABULARY)):
            copy.write_row((number, word))

    # Tier rank -1 stands for the unpriced model, served when the router picked a model the
    # catalog does not know.
    cursor.execute(
        "CREATE TEMP TABLE bench_model (rank int, slot int, model_id bigint, name text, "
        "tier_id bigint, tier_name text, input_price numeric, output_price numeric, "
        "PRIMARY KEY (rank, slot)) ON COMMIT DROP"
    )
    by_rank: dict[int, list[CatalogModel]] = {}
    for model in CatalogModel.objects.select_related("tier"):
        by_rank.setdefault(model.tier.rank if model.tier else -1, []).append(model)
    with cursor.copy("COPY bench_model FROM STDIN") as copy:
        for rank, models in by_rank.items():
            for slot in range(MODEL_SLOTS):
                model = models[slot % len(models)]
                tier = model.tier
                copy.write_row(
                    (
                        rank,
                        slot,
                        model.pk,
                        model.name,
                        tier.pk if tier else None,
                        tier.name if tier else "",
                        model.input_price_per_mtok,
                        model.output_price_per_mtok,
                    )
                )
    assert Tier.objects.count() == 4, "the tier mix below assumes the catalog's four tiers"

    cursor.execute(
        "CREATE TEMP TABLE bench_gateway (slot int PRIMARY KEY, id bigint) ON COMMIT DROP"
    )
    ids = dict(Gateway.objects.values_list("name", "pk"))
    slots = [ids[name] for name, share in GATEWAYS.items() for _ in range(share)]
    assert len(slots) == 100
    with cursor.copy("COPY bench_gateway FROM STDIN") as copy:
        for slot, gateway_id in enumerate(slots):
            copy.write_row((slot, gateway_id))


def prompt_pool(rng: random.Random, size: int) -> list[tuple[str, int, str, str]]:
    """Prompts built from the demo week's material: (category, needed tier rank, text, response).

    The needed rank follows the template's difficulty, with the detector's default, evenly
    spaced tier boundaries, so the router's mistakes below are mistakes in the usual sense.
    """
    from review.demo_prompts import BUSINESS_CONTEXT, CATEGORIES, SLOTS

    class Slots(dict):
        # Every placeholder draws anew: "What is {n} * {n}?" gets two numbers.
        def __missing__(self, key: str) -> str:
            return rng.choice(SLOTS[key])

    weights = {"greeting": 12, "faq": 18, "lookup": 14, "rewrite": 12, "summary": 14}
    weights |= {"code": 14, "math": 8, "analysis": 8}
    categories = list(CATEGORIES)
    pool = []
    for _ in range(size):
        category = rng.choices(categories, [weights[c.name] for c in categories])[0]
        prompt = rng.choice(category.prompts)
        text = prompt.template.format_map(Slots())
        context = category.context or (BUSINESS_CONTEXT if rng.random() < 0.2 else ())
        if context and rng.random() < 0.6:
            pasted = rng.sample(context, min(len(context), rng.randint(1, 6)))
            text += "\n" + " ".join(pasted).format_map(Slots())
        low, high = prompt.difficulty
        needed_rank = min(3, int((low + high) / 2 * 4))
        response = rng.choice(category.responses).format_map(Slots())
        pool.append((category.name, needed_rank, text, response))
    return pool


def vocabulary(rng: random.Random, size: int) -> list[str]:
    """Made-up words (customer, project and product names) that make prompts differ from one
    another, so the trigram index works on varied text rather than a few hundred templates."""
    syllables = [c + v for c in "bdfgklmnprstvz" for v in "aeiou"] + ["ren", "sol", "tek", "lin"]
    words: set[str] = set()
    while len(words) < size:
        word = "".join(rng.choice(syllables) for _ in range(rng.randint(2, 4)))
        if COMMON_WORD not in word and RARE_WORD not in word:
            words.add(word)
    return sorted(words)


# One decision per generate_series number, in time order (as ingestion stores them), so the
# table's physical order follows occurred_at as it does in production. Random numbers are drawn
# in the inner query, which PostgreSQL keeps apart because random() is volatile.
INSERT_DECISIONS = (
    INSERT_DECISION_COLUMNS
    + """
SELECT
    g.id,
    'evt-' || lpad(s.n::text, 9, '0'),
    s.occurred_at,
    s.occurred_at + s.delay,
    m.model_id,
    m.name,
    m.tier_id,
    'assistant-auto',
    'complexity-router',
    'v3',
    s.score,
    0.5,
    p.category,
    m.tier_name,
    'score above the boundary',
    '[]'::jsonb,
    s.input_tokens,
    s.output_tokens,
    round((m.input_price * s.input_tokens + m.output_price * s.output_tokens) / 1e6, 8),
    CASE WHEN m.tier_id IS NULL THEN '' ELSE 'catalog' END,
    s.latency_ms,
    s.latency_ms / 5,
    CASE WHEN s.error_kind >= 0 THEN 'error' ELSE 'success' END,
    (ARRAY['', 'rate_limit', 'timeout', 'provider_error', 'context_window',
        'output_invalid'])[s.error_kind + 2],
    (ARRAY['', 'Rate limit reached', 'Request timed out', 'Upstream returned 503',
        'Maximum context length exceeded', 'Response was not valid JSON'])[s.error_kind + 2],
    (ARRAY[NULL, 429, 408, 503, 400, NULL]::int[])[s.error_kind + 2],
    'trace-' || s.n,
    '[]'::jsonb,
    0,
    CASE WHEN s.feedback < 0.02 THEN -1 WHEN s.feedback < 0.06 THEN 1 END,
    NULL, NULL, NULL, NULL,
    s.occurred_at + s.delay + interval '2 seconds',
    1, NULL, '',
    p.text
        || ' (account ' || initcap(w1.word) || ' ' || initcap(w2.word)
        || ', project ' || w3.word || ')'
        || CASE WHEN s.planted < %(common_share)s THEN %(common_sentence)s ELSE '' END
        || CASE WHEN s.planted > 1 - %(rare_share)s THEN %(rare_sentence)s ELSE '' END,
    p.response,
    jsonb_build_object('app', 'assistant', 'region', s.region)
FROM (
    SELECT
        n,
        %(start)s::timestamptz + (n - 1 + random()) * %(step)s::interval AS occurred_at,
        (1 + random() * 30) * interval '1 second' AS delay,
        floor(random() * %(prompts)s)::int AS prompt,
        floor(random() * %(vocabulary)s)::int AS word1,
        floor(random() * %(vocabulary)s)::int AS word2,
        floor(random() * %(vocabulary)s)::int AS word3,
        floor(random() * 100)::int AS gateway_slot,
        random() AS router,
        random() AS offset_draw,
        floor(random() * 4)::int AS any_rank,
        floor(random() * %(slots)s)::int AS model_slot,
        round(random()::numeric, 4)::float AS score,
        (20 + random() * 3000)::int AS input_tokens,
        (10 + random() * 1200)::int AS output_tokens,
        (250 + random() * random() * 20000)::int AS latency_ms,
        CASE WHEN random() < 0.03 THEN floor(random() * 5)::int ELSE -1 END AS error_kind,
        random() AS feedback,
        random() AS planted,
        CASE WHEN random() < 0.6 THEN 'eu' ELSE 'us' END AS region
    FROM generate_series(1, %(count)s) AS n
) AS s
JOIN bench_prompt AS p ON p.id = s.prompt
JOIN bench_word AS w1 ON w1.id = s.word1
JOIN bench_word AS w2 ON w2.id = s.word2
JOIN bench_word AS w3 ON w3.id = s.word3
JOIN bench_gateway AS g ON g.slot = s.gateway_slot
-- The router: the needed tier mostly, one too strong often, one too weak sometimes, any tier
-- now and then, and a model outside the catalog rarely.
JOIN bench_model AS m ON m.slot = s.model_slot AND m.rank = CASE
    WHEN s.router < 0.005 THEN -1
    WHEN s.router < 0.05 THEN s.any_rank
    WHEN s.offset_draw < 0.7 THEN p.needed_rank
    WHEN s.offset_draw < 0.92 THEN least(3, p.needed_rank + 1)
    ELSE greatest(0, p.needed_rank - 1)
END
"""
)

# About FLAGGED_SHARE of the tiered decisions flagged by the current detector version, the
# stronger tiers more often, so that about two flags in three say overkill: the cheapest tier
# can only be underpowered, the strongest only overkill.
INSERT_FLAGS = """
INSERT INTO review_flag (decision_id, kind, confidence, dollars, reasons, detector_version,
    created_at)
SELECT
    d.id,
    d.kind,
    round((0.5 + d.confidence_draw * 0.5)::numeric, 4)::float,
    round(coalesce(d.cost_usd, 0) * CASE WHEN d.kind = 'overkill' THEN 0.8 ELSE 0.3 END, 8),
    jsonb_build_array(
        'served at ' || d.tier_name || ' for a ' || d.router_category || ' prompt',
        'the cheapest model that fits would have cost less'
    ),
    %(version)s,
    d.processed_at
FROM (
    -- Draws per decision in a subquery: a condition on random() that names only the tier
    -- would be pushed down to the scan of the four tiers and drawn once per tier.
    SELECT
        d.id, d.cost_usd, d.router_category, d.processed_at, t.name AS tier_name,
        CASE
            WHEN t.rank = 0 THEN 'underpowered'
            WHEN t.rank = 3 THEN 'overkill'
            WHEN random() < 0.7 THEN 'overkill'
            ELSE 'underpowered'
        END AS kind,
        random() < %(share)s * (ARRAY[0.5, 1.1, 1.5, 1.9])[t.rank + 1] AS flagged,
        random() AS confidence_draw
    FROM review_decision AS d
    JOIN review_tier AS t ON t.id = d.served_tier_id
) AS d
WHERE d.flagged
"""

# Labels mostly on flagged decisions (the review rounds' queue), some on unflagged ones (the
# rounds' random sample); a quarter of them labelled by a second reviewer as well.
INSERT_LABELS = """
WITH picked AS (
    (SELECT decision_id AS id FROM review_flag ORDER BY random() LIMIT %(flagged)s)
    UNION ALL
    (SELECT d.id FROM review_decision AS d
     WHERE NOT EXISTS (SELECT FROM review_flag AS f WHERE f.decision_id = d.id)
     ORDER BY random() LIMIT %(unflagged)s)
), reviews AS (
    SELECT id, %(first)s AS reviewer_id FROM picked
    UNION ALL
    SELECT id, %(second)s FROM picked WHERE random() < 0.25
), verdicts AS (
    SELECT r.id, r.reviewer_id, random() AS draw FROM reviews AS r
)
INSERT INTO review_label (decision_id, reviewer_id, verdict, right_tier_id, note, created_at,
    updated_at)
SELECT
    v.id,
    v.reviewer_id,
    CASE
        WHEN v.draw < 0.40 THEN 'correct'
        WHEN v.draw < 0.75 THEN 'should_be_cheaper'
        WHEN v.draw < 0.90 THEN 'should_be_stronger'
        WHEN v.draw < 0.93 THEN 'no_model_fits'
        ELSE 'unsure'
    END,
    CASE
        WHEN v.draw >= 0.40 AND v.draw < 0.75 THEN
            (SELECT id FROM review_tier WHERE rank = greatest(0, t.rank - 1))
        WHEN v.draw >= 0.75 AND v.draw < 0.90 THEN
            (SELECT id FROM review_tier WHERE rank = least(3, t.rank + 1))
    END,
    '',
    least(%(now)s::timestamptz, d.occurred_at + interval '8 days'),
    least(%(now)s::timestamptz, d.occurred_at + interval '8 days')
FROM verdicts AS v
JOIN review_decision AS d ON d.id = v.id
LEFT JOIN review_tier AS t ON t.id = d.served_tier_id
"""


if __name__ == "__main__":
    main()
