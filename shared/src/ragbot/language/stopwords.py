"""English function words dropped from keyword queries.

Staff ask in full sentences ("how do I set up the VPN on my laptop?"); OR-ing "how", "do" and "I" into a BM25
query only adds noise. Documents are indexed with every word, so phrases still match.
"""

__all__ = ["STOPWORDS"]

STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are aren't as at be because been before being below
    between both but by can cannot could couldn't did didn't do does doesn't doing don't down during each few for
    from further get got had hadn't has hasn't have haven't having he her here hers herself him himself his how i
    if in into is isn't it its itself just let me more most my myself no nor not of off on once only or other ought
    our ours ourselves out over own please same she should so some such than that the their theirs them themselves
    then there these they this those through to too under until up us very was we were what when where which while
    who whom why will with would you your yours yourself yourselves s t
    """.split()
)
