"""Regimes as a reader names them: the short title of the instrument ("EU AI Act", "California
SB 53"), with its slug beside it as secondary text for whoever matches the page against the
decision log, the API or a rule file."""
from __future__ import annotations

from django.utils.html import format_html
from django.utils.safestring import SafeString

# The names a regulator uses for the instruments of DESIGN.md and SOURCES.md; a regime added later
# is named from its rule file's title until it gets one here.
SHORT_TITLES = {
    "eu-ai-act": "EU AI Act",
    "us-ca-sb53": "California SB 53",
    "us-eo-14110": "Executive Order 14110",
    "us-bis-702-nprm": "BIS proposed rule, 15 CFR 702.7",
    "us-ny-raise": "New York RAISE Act",
    "us-ca-sb1047": "California SB 1047",
    "kr-ai-basic-act": "Korea AI Basic Act",
    "us-ct-sb5": "Connecticut SB 5",
    "us-il-sb315": "Illinois SB 315",
    "us-bis-4e091": "BIS interim final rule, ECCN 4E091",
    "us-ca-ab222": "California AB 222",
    "us-eo-14409": "Executive Order 14409",
}


def regime_short_title(slug: str) -> str:
    """`EU AI Act` for `eu-ai-act`; for a regime not named above, its rule file's title up to the
    first comma (`Illinois SB 315, Artificial ...` reads `Illinois SB 315`); else the slug itself."""
    if slug in SHORT_TITLES:
        return SHORT_TITLES[slug]
    from rules.library_store import published_library

    versions = published_library().versions(slug) if slug else ()
    if versions:
        return versions[-1].regime_title.split(",", 1)[0].strip() or slug
    return slug


def regime_label(slug: str) -> str:
    """`EU AI Act (eu-ai-act)`: where only text fits (a filter's choices, a tooltip, a message)."""
    title = regime_short_title(slug)
    return f"{title} ({slug})" if title != slug else slug


def regime_html(slug: str, *, version_label: str = "") -> SafeString:
    """The short title, then the slug (or a version label such as `eu-ai-act@2025-08-02`) as quiet text."""
    return format_html('<span class="regime-name">{}</span> <span class="regime-slug quiet">{}</span>',
                       regime_short_title(slug), version_label or slug)
