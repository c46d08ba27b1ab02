"""Prompt material for the demo week: templates per category, with slots and filler text.

Kept apart from the generator so the generator reads as the router's story and this file as data.
Each category has a range of true difficulty and typical answer lengths.
"""

from typing import NamedTuple


class Category(NamedTuple):
    name: str
    difficulty: tuple[float, float]
    output_tokens: tuple[int, int]
    templates: tuple[str, ...]
    responses: tuple[str, ...]


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

CATEGORIES: tuple[Category, ...] = (
    Category(
        "greeting",
        (0.01, 0.08),
        (8, 40),
        (
            "hi",
            "hello there!",
            "hey, are you there?",
            "good morning {name}",
            "thanks, that's all for today",
            "hi again :)",
            "ok thank you!",
            "hello, who am I talking to?",
        ),
        (
            "Hello! How can I help you today?",
            "You're welcome, have a great day!",
            "Hi! I'm the assistant for this workspace. What can I do for you?",
        ),
    ),
    Category(
        "faq",
        (0.04, 0.2),
        (40, 160),
        (
            "How do I reset my password?",
            "What does {product} cost per month?",
            "Can I cancel {product} anytime?",
            "Where do I find my invoices?",
            "Does {product} support two-factor authentication?",
            "How do I add a teammate?",
            "What are your support hours?",
            "Is there a student discount for {product}?",
            "Why does my form show <script>alert(1)</script> instead of my name?",
        ),
        (
            "You can reset it from Settings → Security → Reset password.",
            "Yes, you can cancel anytime from the billing portal; you keep access until the period ends.",
            "Invoices are under Billing → History; each one can be downloaded as a PDF.",
        ),
    ),
    Category(
        "lookup",
        (0.08, 0.3),
        (30, 180),
        (
            "What's the weather usually like in {city} in March?",
            "What time zone is {city} in?",
            "Who is the account owner for the {topic} dashboard?",
            "What is the status of order #{n}{n}?",
            "Find the doc that describes {product} limits.",
            "What's the capital of the country {city} is in?",
            "How many seats are on our plan?",
        ),
        (
            "{city} is usually mild in March, around 15–18 °C.",
            "Order status: shipped, arriving Thursday.",
            "The document is 'Limits and quotas' in the help centre.",
        ),
    ),
    Category(
        "rewrite",
        (0.12, 0.4),
        (60, 300),
        (
            "Translate to {target}: 'Your order has shipped and will arrive on Friday.'",
            "Make this more polite: 'send me the report now'",
            "Fix the grammar: 'me and him goes to the office tomorrow, we was late yesterday'",
            "Rewrite this tweet to sound less salesy: 'BUY {product} NOW!!! best deal ever'",
            "Translate this paragraph into {target} and keep the formal tone.",
            "Shorten this to one sentence for a push notification.",
        ),
        (
            "Votre commande a été expédiée et arrivera vendredi.",
            "Could you please send me the report when you have a moment?",
        ),
    ),
    Category(
        "summary",
        (0.22, 0.55),
        (120, 500),
        (
            "Summarize these {doc} in five bullet points.",
            "TL;DR of the following {doc}, please.",
            "Summarize the key decisions and owners from these {doc}.",
            "Give me a one-paragraph summary of this {doc} for an executive.",
            "What are the action items in these {doc}?",
        ),
        (
            "• Decision: ship on the 14th\n• Owner: {name}\n• Risk: vendor latency",
            "The thread agrees on a refund and a follow-up call next week.",
        ),
    ),
    Category(
        "code",
        (0.3, 0.85),
        (150, 900),
        (
            "Write {thing} in {lang} with tests.",
            "Why does this {lang} code raise a KeyError?",
            "Refactor this {lang} function to be iterative instead of recursive.",
            "Implement {thing} in {lang} that is safe to use from several threads.",
            "Review this pull request diff and point out bugs and race conditions.",
            "Convert this {lang} script to {lang} and keep the same CLI flags.",
            "Write a SQL query that returns the top {n} customers by revenue per month, with ties.",
        ),
        (
            "```python\ndef solve(items):\n    ...\n```\nThe KeyError comes from the missing default.",
            "Here is an implementation with a lock around the shared state, plus tests.",
        ),
    ),
    Category(
        "math",
        (0.35, 0.95),
        (120, 800),
        (
            "What is {n} * {n}?",
            "Solve for x: 3x + 7 = {n}.",
            "A train leaves {city} at 9:00 at 80 km/h; another leaves at 10:30 at 120 km/h. When does the second catch up?",
            "Prove that the square root of 2 is irrational.",
            "How many ways can {n} people be seated at a round table if two of them refuse to sit together?",
            "Find the eigenvalues of [[2, 1], [1, 3]] and explain each step.",
            "Given a loan of ${n}000 at 4.5% compounded monthly, what is the payment over {n} months?",
        ),
        (
            "x = 4. Subtract 7 from both sides, then divide by 3.",
            "The second train catches up after 3 hours, at 13:30.",
        ),
    ),
    Category(
        "analysis",
        (0.55, 1.0),
        (400, 1600),
        (
            "Analyze {topic} over the last {n} weeks, find the three main drivers, and propose a plan with costs.",
            "Compare these two vendor contracts clause by clause, list the risks, then recommend one step by step.",
            "Given the attached {doc}, reconstruct the timeline, identify the root cause and the contributing factors, and draft follow-ups.",
            "Plan a migration of our billing system to event sourcing: phases, risks, rollback, and a test strategy.",
            "Evaluate whether we should build or buy {product}; consider cost over 3 years, hiring, and lock-in, and justify each assumption.",
            "First estimate the market size for {product} in {city}, then derive a pricing model, then check it against the churn data.",
        ),
        (
            "1. Timeline … 2. Root cause: a retry storm after the cache eviction … 3. Follow-ups …",
            "Phase 1: dual-write; Phase 2: backfill; Phase 3: cut-over with a feature flag …",
        ),
    ),
)

# Pasted material that makes a prompt long: summaries, code reviews and analyses carry context.
FILLER_SENTENCES: tuple[str, ...] = (
    "The team agreed to revisit the decision after the next release.",
    "Revenue in the north region fell 4% while support tickets rose by a third.",
    "We saw timeouts from the payment provider between 14:02 and 14:19 UTC.",
    "The customer asked twice for a refund and was offered store credit instead.",
    "def handler(event):\n    return process(event['items'], retries=3)",
    "The contract renews automatically unless notice is given 60 days in advance.",
    "Churn is concentrated in accounts with fewer than five active users.",
    "Latency p95 went from 420 ms to 1.3 s after the cache change.",
    "{name} owns the rollout; legal review is still pending.",
    "Our current vendor charges per seat with a 20% discount above 200 seats.",
    "SELECT customer_id, SUM(amount) FROM orders GROUP BY customer_id;",
    "Three incidents last quarter were caused by configuration drift.",
)
