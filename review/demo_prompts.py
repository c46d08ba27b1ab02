"""Prompt material for the demo week: templates per category, with slots and pasted context.

Kept apart from the generator so the generator reads as the router's story and this file as data.
Every template carries its own range of true difficulty ("What is 5 * 7?" and "Prove that √2 is
irrational" are both math), so the text says something about how hard a prompt is, as in real
traffic, without saying everything.
"""

from typing import NamedTuple


class Prompt(NamedTuple):
    template: str
    difficulty: tuple[float, float]


class Category(NamedTuple):
    name: str
    output_tokens: tuple[int, int]
    prompts: tuple[Prompt, ...]
    responses: tuple[str, ...]
    # Sentences pasted after the question to make medium and long prompts; none: always short.
    context: tuple[str, ...] = ()


SLOTS: dict[str, tuple[str, ...]] = {
    "name": ("Maya", "Tom", "Priya", "Lukas", "Aiko", "Sam", "Fatima", "Diego"),
    "product": (
        "the Pro plan",
        "the mobile app",
        "the API",
        "the starter kit",
        "team workspaces",
        "the billing portal",
        "single sign-on",
        "the CSV importer",
    ),
    "city": ("Lisbon", "Osaka", "Toronto", "Nairobi", "Berlin", "Austin", "Melbourne", "Lyon"),
    "lang": ("Python", "TypeScript", "Go", "Rust", "SQL", "Java", "Kotlin", "Bash"),
    "thing": (
        "a linked list",
        "a rate limiter",
        "an LRU cache",
        "a CSV parser",
        "a retry helper",
        "a trie",
        "a priority queue",
        "a debounce function",
    ),
    "topic": (
        "quarterly churn",
        "the onboarding funnel",
        "support ticket volume",
        "cloud spend",
        "hiring pipeline",
        "warehouse delays",
        "A/B test results",
        "incident reports",
    ),
    "doc": (
        "meeting notes",
        "customer email thread",
        "incident postmortem",
        "product spec",
        "contract clause",
        "research abstract",
        "release notes",
        "sales call transcript",
    ),
    "target": ("French", "German", "Spanish", "Japanese", "Portuguese", "Italian"),
    "n": ("3", "5", "7", "12", "48", "120", "365", "1000"),
}

BUSINESS_CONTEXT = (
    "The team agreed to revisit the decision after the next release.",
    "Revenue in the north region fell 4% while support tickets rose by a third.",
    "We saw timeouts from the payment provider between 14:02 and 14:19 UTC.",
    "The customer asked twice for a refund and was offered store credit instead.",
    "The contract renews automatically unless notice is given 60 days in advance.",
    "Churn is concentrated in accounts with fewer than five active users.",
    "Latency p95 went from 420 ms to 1.3 s after the cache change.",
    "{name} owns the rollout; legal review is still pending.",
    "Our current vendor charges per seat with a 20% discount above 200 seats.",
    "Three incidents last quarter were caused by configuration drift.",
)
CODE_CONTEXT = (
    "def handler(event):\n    return process(event['items'], retries=3)",
    "for key in cache:\n    if cache[key].expired():\n        del cache[key]",
    "SELECT customer_id, SUM(amount) FROM orders GROUP BY customer_id;",
    # Braces are doubled: every text goes through str.format_map to fill its slots.
    "const retry = async (fn, n) => {{ try {{ return await fn() }} catch (e) {{ if (n) return retry(fn, n - 1); throw e }} }}",
    "lock.acquire()\ncounter += 1\nif counter > LIMIT:\n    return False\nlock.release()",
    "Traceback (most recent call last):\n  File \"app.py\", line 42, in load\nKeyError: 'user_id'",
)
DOCUMENT_CONTEXT = (
    "Dear customer, thank you for your order. Your package left our warehouse this morning.",
    "We are pleased to announce that the new dashboard is available to every workspace.",
    "Please find attached the signed copy of the agreement for your records.",
    "Our offices will be closed on Monday for the public holiday.",
)
HELP_CENTRE_CONTEXT = (
    "Help centre: Plans can be changed at any time; the difference is prorated.",
    "Help centre: Invoices are issued on the first day of each billing period.",
    "Help centre: Each workspace can have up to 50 members on the Pro plan.",
)

CATEGORIES: tuple[Category, ...] = (
    Category(
        "greeting",
        (8, 40),
        (
            Prompt("hi", (0.0, 0.04)),
            Prompt("hello there!", (0.0, 0.04)),
            Prompt("hey, are you there?", (0.0, 0.05)),
            Prompt("good morning {name}", (0.0, 0.05)),
            Prompt("thanks, that's all for today", (0.0, 0.05)),
            Prompt("hi again :)", (0.0, 0.04)),
            Prompt("ok thank you!", (0.0, 0.04)),
            Prompt("hello, who am I talking to?", (0.02, 0.1)),
        ),
        (
            "Hello! How can I help you today?",
            "You're welcome, have a great day!",
            "Hi! I'm the assistant for this workspace. What can I do for you?",
        ),
    ),
    Category(
        "faq",
        (40, 160),
        (
            Prompt("How do I reset my password?", (0.02, 0.12)),
            Prompt("What does {product} cost per month?", (0.04, 0.15)),
            Prompt("Can I cancel {product} anytime?", (0.04, 0.15)),
            Prompt("Where do I find my invoices?", (0.02, 0.12)),
            Prompt("Does {product} support two-factor authentication?", (0.05, 0.18)),
            Prompt("How do I add a teammate?", (0.02, 0.12)),
            Prompt("What are your support hours?", (0.02, 0.1)),
            Prompt("Is there a student discount for {product}?", (0.04, 0.15)),
            Prompt(
                "Why does my form show <script>alert(1)</script> instead of my name?", (0.15, 0.35)
            ),
        ),
        (
            "You can reset it from Settings → Security → Reset password.",
            "Yes, you can cancel anytime from the billing portal; you keep access until the period ends.",
            "Invoices are under Billing → History; each one can be downloaded as a PDF.",
        ),
    ),
    Category(
        "lookup",
        (30, 180),
        (
            Prompt("What time zone is {city} in?", (0.04, 0.14)),
            Prompt("What's the weather usually like in {city} in March?", (0.08, 0.22)),
            Prompt("Who is the account owner for the {topic} dashboard?", (0.1, 0.25)),
            Prompt("What is the status of order #{n}{n}?", (0.06, 0.2)),
            Prompt("Find the doc that describes {product} limits.", (0.12, 0.3)),
            Prompt("What's the capital of the country {city} is in?", (0.05, 0.18)),
            Prompt("How many seats are on our plan, and what happens if we go over?", (0.15, 0.35)),
        ),
        (
            "{city} is usually mild in March, around 15–18 °C.",
            "Order status: shipped, arriving Thursday.",
            "The document is 'Limits and quotas' in the help centre.",
        ),
        HELP_CENTRE_CONTEXT,
    ),
    Category(
        "rewrite",
        (60, 300),
        (
            Prompt("Make this more polite: 'send me the report now'", (0.06, 0.2)),
            Prompt(
                "Fix the grammar: 'me and him goes to the office tomorrow, we was late yesterday'",
                (0.08, 0.22),
            ),
            Prompt(
                "Translate to {target}: 'Your order has shipped and will arrive on Friday.'",
                (0.12, 0.3),
            ),
            Prompt(
                "Rewrite this tweet to sound less salesy: 'BUY {product} NOW!!! best deal ever'",
                (0.12, 0.3),
            ),
            Prompt("Shorten this to one sentence for a push notification.", (0.15, 0.35)),
            Prompt(
                "Translate this letter into {target}, keep the formal register and the legal terms exact.",
                (0.3, 0.5),
            ),
        ),
        (
            "Votre commande a été expédiée et arrivera vendredi.",
            "Could you please send me the report when you have a moment?",
        ),
        DOCUMENT_CONTEXT,
    ),
    Category(
        "summary",
        (120, 500),
        (
            Prompt("TL;DR of the following {doc}, please.", (0.18, 0.38)),
            Prompt("Summarize these {doc} in five bullet points.", (0.2, 0.42)),
            Prompt("What are the action items in these {doc}?", (0.22, 0.45)),
            Prompt("Give me a one-paragraph summary of this {doc} for an executive.", (0.28, 0.5)),
            Prompt(
                "Summarize the key decisions and owners from these {doc}, and flag anything contradictory.",
                (0.4, 0.62),
            ),
        ),
        (
            "• Decision: ship on the 14th\n• Owner: {name}\n• Risk: vendor latency",
            "The thread agrees on a refund and a follow-up call next week.",
        ),
        BUSINESS_CONTEXT,
    ),
    Category(
        "code",
        (150, 900),
        (
            Prompt("What does `git rebase -i` do?", (0.12, 0.3)),
            Prompt("Why does this {lang} code raise a KeyError?", (0.3, 0.5)),
            Prompt("Write {thing} in {lang} with tests.", (0.4, 0.62)),
            Prompt(
                "Refactor this {lang} function to be iterative instead of recursive.", (0.4, 0.6)
            ),
            Prompt(
                "Write a SQL query that returns the top {n} customers by revenue per month, with ties.",
                (0.45, 0.65),
            ),
            Prompt(
                "Implement {thing} in {lang} that is safe to use from several threads.", (0.6, 0.82)
            ),
            Prompt(
                "Review this pull request diff and point out bugs and race conditions.",
                (0.62, 0.85),
            ),
        ),
        (
            "```python\ndef solve(items):\n    ...\n```\nThe KeyError comes from the missing default.",
            "Here is an implementation with a lock around the shared state, plus tests.",
        ),
        CODE_CONTEXT,
    ),
    Category(
        "math",
        (120, 800),
        (
            Prompt("What is {n} * {n}?", (0.04, 0.15)),
            Prompt("Solve for x: 3x + 7 = {n}.", (0.12, 0.28)),
            Prompt(
                "A train leaves {city} at 9:00 at 80 km/h; another leaves at 10:30 at 120 km/h. When does the second catch up?",
                (0.38, 0.58),
            ),
            Prompt(
                "Given a loan of ${n}000 at 4.5% compounded monthly, what is the payment over {n} months?",
                (0.4, 0.6),
            ),
            Prompt("Find the eigenvalues of [[2, 1], [1, 3]] and explain each step.", (0.55, 0.75)),
            Prompt(
                "How many ways can {n} people be seated at a round table if two of them refuse to sit together?",
                (0.7, 0.9),
            ),
            Prompt(
                "Prove that the square root of 2 is irrational, then generalise the proof to any prime.",
                (0.8, 0.97),
            ),
        ),
        (
            "x = 4. Subtract 7 from both sides, then divide by 3.",
            "The second train catches up after 3 hours, at 13:30.",
        ),
    ),
    Category(
        "analysis",
        (400, 1600),
        (
            Prompt(
                "Analyze {topic} over the last {n} weeks, find the three main drivers, and propose a plan with costs.",
                (0.6, 0.85),
            ),
            Prompt(
                "Compare these two vendor contracts clause by clause, list the risks, then recommend one step by step.",
                (0.62, 0.88),
            ),
            Prompt(
                "Given the attached {doc}, reconstruct the timeline, identify the root cause and the contributing factors, and draft follow-ups.",
                (0.7, 0.95),
            ),
            Prompt(
                "Plan a migration of our billing system to event sourcing: phases, risks, rollback, and a test strategy.",
                (0.78, 1.0),
            ),
            Prompt(
                "Evaluate whether we should build or buy {product}; consider cost over 3 years, hiring, and lock-in, and justify each assumption.",
                (0.7, 0.95),
            ),
            Prompt(
                "First estimate the market size for {product} in {city}, then derive a pricing model, then check it against the churn data.",
                (0.75, 1.0),
            ),
        ),
        (
            "1. Timeline … 2. Root cause: a retry storm after the cache eviction … 3. Follow-ups …",
            "Phase 1: dual-write; Phase 2: backfill; Phase 3: cut-over with a feature flag …",
        ),
        BUSINESS_CONTEXT,
    ),
)
