"""The demo's accounts and contacts tables: unique company names, regions, people, roles, emails and titles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from heatmap_lib.data.demo._common import (
    _cumcount,
    _date_col,
    _digits,
    _fixed_ids,
    _join,
    _slug,
    _str_col,
    _strings,
    _take,
)
from heatmap_lib.data.demo.plan import _Plan
from heatmap_lib.data.demo.schema import _STORY_CODE

_REGIONS = ("West", "East", "Central", "EMEA", "APAC")
_REGION_P = (0.24, 0.21, 0.16, 0.26, 0.13)
_INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Logistics",
    "Education",
    "Energy",
)
_INDUSTRY_P = (0.22, 0.15, 0.13, 0.14, 0.11, 0.09, 0.07, 0.09)
_TIERS = ("SMB", "Mid-Market", "Enterprise", "Strategic")
_TIER_EDGES = (25_000.0, 100_000.0, 500_000.0)
_ROLES = ("decision_maker", "influencer", "day_to_day")
_ROLE_P = (0.12, 0.31, 0.57)  # plus one forced decision maker per account: ~15/30/55 overall
_TITLES = (
    (
        "CEO",
        "CFO",
        "COO",
        "CTO",
        "CIO",
        "VP Operations",
        "VP Engineering",
        "VP Finance",
        "Head of Procurement",
        "Managing Director",
        "Chief Revenue Officer",
        "Director of IT",
    ),
    (
        "IT Manager",
        "Operations Manager",
        "Product Owner",
        "Team Lead",
        "Finance Manager",
        "Head of Analytics",
        "Engineering Manager",
        "Program Manager",
        "Senior Architect",
        "Procurement Manager",
    ),
    (
        "Analyst",
        "Data Analyst",
        "Specialist",
        "Coordinator",
        "Engineer",
        "Associate",
        "Administrator",
        "Consultant",
        "Accountant",
        "Support Agent",
        "Developer",
        "Planner",
    ),
)


def _words(text: str) -> list[str]:
    """Whitespace-separated words of a literal."""
    return text.split()


_FIRST_NAMES = _words(
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard "
    "Susan Joseph Jessica Thomas Sarah Charles Karen Daniel Nancy Matthew Lisa Anthony Betty Mark "
    "Sandra Steven Ashley Paul Emily Andrew Michelle Joshua Amanda Kevin Melissa Brian Deborah Priya "
    "Rahul Ananya Arjun Wei Mei Jun Hiroshi Yuki Sakura Kenji Min-jun Seo-yeon Carlos María José "
    "Lucía Sofía Diego Valentina Mateo Camila Lukas Anna Jonas Lea Felix Clara Emma Louis Chloé Hugo "
    "Noah Olivia Liam Aisha Omar Fatima Youssef Amara Kwame Chidi Zanele Sipho Ingrid Lars Astrid "
    "Søren Freya Beatriz João Giulia Marco Francesca Luca Zoë Niamh Siobhán Aleksandr Olga Dmitri "
    "Katarzyna Piotr"
)
_LAST_NAMES = _words(
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez "
    "Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris "
    "Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill "
    "Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Müller Schmidt "
    "Schneider Fischer Weber Meyer Wagner Becker Dubois Lefèvre Moreau Laurent Rossi Russo Ferrari "
    "Esposito Bianchi Silva Santos Oliveira Pereira Costa Patel Sharma Singh Gupta Kumar Wang Zhang "
    "Liu Chen Yang Tanaka Suzuki Takahashi Watanabe Kim Park Choi Jensen Nielsen Hansen Johansson "
    "Andersson Kowalski Nowak Ivanov O'Brien Murphy Okafor Mensah Ndlovu Haddad Khan Cohen"
)
_NAME_HEADS = _words(
    "Nor Bright Blue Clear Silver Iron Summit North Apex Vertex Nova Terra Quant Stellar Prime Cobalt "
    "Amber Cedar Harbor River Pine Oak Maple Crest Falcon Eagle Orbit Pixel Data Cloud Swift True "
    "Bold Green Red Sun Star Key Core Peak Arc Zen Omni Poly Neo Syn Inno Velo Aero Hydro Geo Bio "
    "Medi Fin Agri Logi Tech Info Opti Magna"
)
_NAME_TAILS = _words(
    "vex wave line point stone field bridge gate works ware logic scape sphere path forge mark stack "
    "bit flow grid hub tron sys nex ara ora ium ify io ex ica on is us ent ova ix iq ton dale"
)
_NAME_WORDS = _words(
    "Systems Analytics Logistics Health Energy Foods Capital Partners Solutions Manufacturing "
    "Networks Software Retail Media Pharma Insurance Industries Robotics Materials Motors Telecom "
    "Labs Consulting Ventures Aerospace Biotech Security Learning Dynamics"
)
# distinct company name cores ("Nor" + "vex"); a name is unique when its (core, word, suffix) code is
_NAME_CORES = sorted({head + tail for head in _NAME_HEADS for tail in _NAME_TAILS})
# (suffix, top-level domain) per region
_SUFFIXES = {
    "West": (("Inc", ".com"), ("LLC", ".com"), ("Corp", ".com"), ("Co", ".com"), ("Group", ".com")),
    "East": (("Inc", ".com"), ("LLC", ".com"), ("Corp", ".com"), ("Holdings", ".com"), ("Group", ".com")),
    "Central": (("Inc", ".com"), ("LLC", ".com"), ("Corp", ".com"), ("Co", ".com"), ("Group", ".com")),
    "EMEA": (
        ("GmbH", ".de"),
        ("AG", ".de"),
        ("Ltd", ".co.uk"),
        ("plc", ".co.uk"),
        ("SA", ".fr"),
        ("SAS", ".fr"),
        ("BV", ".nl"),
        ("AB", ".se"),
        ("Group", ".eu"),
    ),
    "APAC": (
        ("Pty Ltd", ".com.au"),
        ("Pte Ltd", ".sg"),
        ("KK", ".jp"),
        ("Ltd", ".co.nz"),
        ("Group", ".asia"),
    ),
}


class _AccountsMixin(_Plan):
    """Builds the accounts and contacts tables from the plan."""

    def accounts_table(self) -> pd.DataFrame:
        """The accounts table with realistic unique names and person pools for reps and managers."""
        n, rng = self.n, self.rngs[1]
        region = rng.choice(len(_REGIONS), size=n, p=_REGION_P)
        industry = rng.choice(len(_INDUSTRIES), size=n, p=_INDUSTRY_P)
        tier = np.searchsorted(np.array(_TIER_EDGES), self.value, side="right")

        # names: head+tail core, optional word, region-specific legal suffix; unique by redrawing collisions
        suffix_list: list[str] = []
        tld_list: list[str] = []
        region_start = np.zeros(len(_REGIONS), dtype=np.int64)
        region_len = np.zeros(len(_REGIONS), dtype=np.int64)
        for i, reg in enumerate(_REGIONS):
            region_start[i] = len(suffix_list)
            region_len[i] = len(_SUFFIXES[reg])
            for legal, tld in _SUFFIXES[reg]:
                suffix_list.append(" " + legal)
                tld_list.append(tld)
        n_cores, n_words = len(_NAME_CORES), len(_NAME_WORDS) + 1
        distinct = sorted(set(suffix_list))
        suffix_key = np.array([distinct.index(x) for x in suffix_list])  # "Inc" is one suffix in 3 regions

        def draw(m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            core = rng.integers(0, n_cores, m)
            word = np.where(rng.random(m) < 0.4, 0, rng.integers(1, n_words, m))
            return core, word, rng.random(m)

        core_idx, word, su = draw(n)
        for _ in range(60):
            suffix = region_start[region] + np.floor(su * region_len[region]).astype(np.int64)
            code = (core_idx * n_words + word) * len(distinct) + suffix_key[suffix]
            dup = _cumcount(code) > 0
            if not dup.any():
                break
            core_idx[dup], word[dup], su[dup] = draw(int(dup.sum()))
        suffix = region_start[region] + np.floor(su * region_len[region]).astype(np.int64)
        code = (core_idx * n_words + word) * len(distinct) + suffix_key[suffix]
        rank = _cumcount(code)  # only non-zero if the name space is exhausted
        core = _take(_NAME_CORES, core_idx)
        words = _strings([""] + [" " + w for w in _NAME_WORDS])
        extra = _take([""] + [f" {i + 1}" for i in range(1, int(rank.max()) + 1)], rank)
        name = _join(core, _take(words, word), extra, _take(suffix_list, suffix))
        word_slugs = _strings([""] + [_slug(w) for w in _NAME_WORDS])
        rank_slug = _take([""] + [str(i + 1) for i in range(1, int(rank.max()) + 1)], rank)
        self.domain = _join(pc.utf8_lower(core), _take(word_slugs, word), rank_slug, _take(tld_list, suffix))

        # people pools: ~1 manager per 15 accounts, ~1 rep per 25, capped; spread across regions
        n_mgr = int(np.clip(np.ceil(n / 15), 2, 400))
        n_rep = int(np.clip(np.ceil(n / 25), 2, 250))
        n_people = len(_FIRST_NAMES) * len(_LAST_NAMES)
        people = rng.choice(n_people, size=n_mgr + n_rep, replace=False)
        person_names = _join(
            _take(_FIRST_NAMES, people // len(_LAST_NAMES)),
            " ",
            _take(_LAST_NAMES, people % len(_LAST_NAMES)),
        )

        def assign(pool_start: int, size: int) -> np.ndarray:
            nreg = len(_REGIONS)
            if size < nreg:
                return pool_start + rng.integers(0, size, n)
            count = (size - region - 1) // nreg + 1  # members i with i % nreg == region
            pick = np.floor(rng.random(n) ** 1.3 * count).astype(np.int64)
            return pool_start + region + nreg * pick

        manager = assign(0, n_mgr)
        rep = assign(n_mgr, n_rep)
        self.manager_names = person_names.take(pa.array(manager))  # the owners of the demo's plays
        self.account_ids = _fixed_ids("A", np.arange(1, n + 1), _digits(n, 6))

        renewal = np.where(self.churned, self.r_day, self.next_renewal)
        return pd.DataFrame(
            {
                "account_id": _str_col(self.account_ids),
                "account_name": _str_col(name),
                "value": self.value.astype(np.float64),
                "tier": _str_col(_take(_TIERS, tier)),
                "region": _str_col(_take(_REGIONS, region)),
                "industry": _str_col(_take(_INDUSTRIES, industry)),
                "sales_rep": _str_col(person_names.take(pa.array(rep))),
                "account_manager": _str_col(person_names.take(pa.array(manager))),
                "renewal_date": _date_col(renewal),
                "customer_since": _date_col(self.cs_day),
                "seats": self.seats.astype(np.int64),
                "status": _str_col(_take(("active", "churned"), self.churned.astype(np.int64))),
            },
            copy=False,
        )

    # -- contacts ----------------------------------------------------------------------------------------
    def contacts_table(self) -> pd.DataFrame:
        """Contacts with roles (story-shaped where needed), names, emails from the account domain, titles."""
        rng = self.rngs[2]
        counts = self.contacts_n
        total = int(counts.sum())
        acc = np.repeat(np.arange(self.n, dtype=np.int64), counts)
        offsets = np.zeros(self.n + 1, dtype=np.int64)
        offsets[1:] = np.cumsum(counts)
        local = np.arange(total, dtype=np.int64) - offsets[acc]
        story = self.story[acc]

        u = rng.random(total)
        role = np.where(u < _ROLE_P[0], 0, np.where(u < _ROLE_P[0] + _ROLE_P[1], 1, 2)).astype(np.int8)
        role[local == 0] = 0  # every account has a main decision maker
        # role stories get a fixed composition so the story shows whatever the draw
        hr = story == _STORY_CODE["hidden_risk"]
        role[hr] = np.where(local[hr] < 3, 0, np.where(u[hr] < 0.3, 1, 2))
        hl = story == _STORY_CODE["hidden_loyalty"]
        role[hl] = np.where(local[hl] < 3, 0, np.where(local[hl] < 6, 1, 2))

        first = rng.integers(0, len(_FIRST_NAMES), total)
        last = rng.integers(0, len(_LAST_NAMES), total)
        key = (acc * len(_FIRST_NAMES) + first) * len(_LAST_NAMES) + last
        dup = _cumcount(key)
        dup_max = int(dup.max()) if total else 0
        name = _join(_take(_FIRST_NAMES, first), " ", _take(_LAST_NAMES, last))
        email = _join(
            _take([_slug(f) for f in _FIRST_NAMES], first),
            ".",
            _take([_slug(s) for s in _LAST_NAMES], last),
            _take([""] + [str(i + 1) for i in range(1, dup_max + 1)], dup),
            "@",
            self.domain.take(pa.array(acc)),
        )
        title_offsets = np.cumsum([0] + [len(t) for t in _TITLES])
        title_len = np.array([len(t) for t in _TITLES])
        title = title_offsets[role] + np.floor(rng.random(total) * title_len[role]).astype(np.int64)
        titles = [t for group in _TITLES for t in group]

        self.contact_acc, self.contact_role, self.contact_local = acc, role, local
        self.contact_ids = _fixed_ids("C", np.arange(1, total + 1), _digits(total, 7))
        return pd.DataFrame(
            {
                "contact_id": _str_col(self.contact_ids),
                "account_id": _str_col(self.account_ids.take(pa.array(acc))),
                "role": _str_col(_take(_ROLES, role)),
                "name": _str_col(name),
                "email": _str_col(email),
                "title": _str_col(_take(titles, title)),
            },
            copy=False,
        )
