"""Hashed word and bigram counts of text, for prompt similarity and the learned misroute model.

scikit-learn (with SciPy) is imported on first use rather than with the module: it adds about
100 MB to a process, and most processes never compare text (the web workers serving pages, an
export worker), so only the ones that do pay for it.
"""

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sklearn.feature_extraction.text import HashingVectorizer


@cache
def vectorizer(n_features: int) -> "HashingVectorizer":
    """Word and bigram counts hashed into ``n_features`` columns; stateless, nothing to fit."""
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(n_features=n_features, ngram_range=(1, 2), alternate_sign=False)
