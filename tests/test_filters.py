"""FilterSet (DESIGN.md section 5): construction rules, files, and what applying one does to a dataset."""

from __future__ import annotations

import datetime as dt
import json

import pytest

import heatmap_lib as hm
from heatmap_lib.filters import FilterLibrary, normalise_role


def test_empty_means_all_and_values_are_normalised():
    fs = hm.FilterSet()
    assert fs.is_empty and fs.describe() == "all data"
    fs = hm.FilterSet(role=["Decision Maker", "day-to-day", "dm", "end_user"], region="West", wave=[2026])
    assert fs.criteria["role"] == ("decision_maker", "day_to_day")
    assert fs.criteria["region"] == ("West",)
    assert fs.criteria["wave"] == ("2026",)
    assert hm.FilterSet(region=[]).is_empty


@pytest.mark.parametrize(
    ("spelling", "role"),
    [
        ("Decision Maker", "decision_maker"),
        ("day-to-day", "day_to_day"),
        ("DM", "decision_maker"),
        ("user", "day_to_day"),
        (" Influencer ", "influencer"),
        ("boss", "boss"),
    ],
)
def test_role_spellings(spelling, role):
    assert normalise_role(spelling) == role


def test_waves_and_dates_are_exclusive():
    with pytest.raises(hm.FilterError, match="not both"):
        hm.FilterSet(wave=["2026-Q1"], start="2026-01-01")
    with pytest.raises(hm.FilterError, match="after end"):
        hm.FilterSet(start="2026-02-01", end="2026-01-01")
    with pytest.raises(hm.FilterError, match="not a date"):
        hm.FilterSet(start="01/02/2026")
    fs = hm.FilterSet(start=dt.date(2026, 1, 1), end="2026-01-31")
    assert (fs.start, fs.end) == (dt.date(2026, 1, 1), dt.date(2026, 1, 31))


def test_immutable_with_copying_replace_and_clear():
    fs = hm.FilterSet(name="x", region=["West"], tier=["Gold"])
    with pytest.raises(AttributeError):
        fs.name = "y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        fs.criteria["region"] = ("East",)  # type: ignore[index]
    narrower = fs.replace(region=["East"], tier=None)
    assert fs.criteria == {"region": ("West",), "tier": ("Gold",)}  # the original is untouched
    assert narrower.to_dict() == {"name": "x", "region": ["East"]}
    assert fs.cleared().is_empty and fs.cleared().name is None
    assert hm.FilterSet(region=["West"]) == hm.FilterSet(region="West")
    assert len({hm.FilterSet(region=["West"]), hm.FilterSet(region="West")}) == 1


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_and_load_round_trip(tmp_path, suffix):
    fs = hm.FilterSet(name="west-leaders", region=["West"], role=["decision_maker", "influencer"], wave=["2026-Q3"])
    path = fs.save(tmp_path / f"f{suffix}")
    assert hm.FilterSet.load(path) == fs
    if suffix == ".json":
        assert json.loads(path.read_text())["region"] == ["West"]


def test_the_design_example_file_loads(tmp_path):
    p = tmp_path / "west.yaml"
    p.write_text("name: west-leaders\nregion: [West]\nrole: [decision_maker, influencer]\nwave: [2026-Q3]\n")
    fs = hm.FilterSet.load(p)
    assert fs.name == "west-leaders" and fs.criteria["wave"] == ("2026-Q3",)
    unnamed = tmp_path / "east.yaml"
    unnamed.write_text("region: East\n")
    assert hm.FilterSet.load(unnamed).name == "east"  # a file's name names an unnamed set


def test_loading_is_safe_and_reports_bad_files(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("region: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(hm.FilterError, match="not valid YAML"):
        hm.FilterSet.load(evil)
    bad = tmp_path / "list.yaml"
    bad.write_text("- West\n")
    with pytest.raises(hm.FilterError, match="expected a mapping"):
        hm.FilterSet.load(bad)
    nested = tmp_path / "nested.yaml"
    nested.write_text("region: {a: 1}\n")
    with pytest.raises(hm.FilterError, match="region: expected a list"):
        hm.FilterSet.load(nested)
    with pytest.raises(hm.FilterError, match="cannot read"):
        hm.FilterSet.load(tmp_path / "missing.yaml")


def test_library_saves_lists_loads_and_deletes_by_name(tmp_path):
    lib = FilterLibrary(tmp_path / "filters")
    assert lib.names() == []
    lib.save(hm.FilterSet(region=["West"]), name="West team")
    lib.save(hm.FilterSet(name="leaders", role=["dm"]))
    assert lib.names() == ["West-team", "leaders"]
    assert lib.load("West team").criteria == {"region": ("West",)}
    assert lib.load("leaders").criteria["role"] == ("decision_maker",)
    lib.delete("leaders")
    with pytest.raises(hm.FilterError, match=r"no saved filter set 'leaders'.*West-team"):
        lib.load("leaders")
    with pytest.raises(hm.FilterError, match="needs a name"):
        lib.save(hm.FilterSet(region=["x"]))
    with pytest.raises(hm.FilterError, match="not usable"):
        lib.save(hm.FilterSet(region=["x"]), name="../..")


def test_unknown_key_is_an_error_and_unmatched_values_warn(builder, tmp_path):
    a = builder.account("A1", region="West", segment="Growth")  # an extra account column
    builder.scores(a, "influencer", [9])
    ds = builder.load(tmp_path / "d")
    with pytest.raises(hm.FilterError, match="unknown filter key 'regoin'"):
        hm.scope(ds, hm.FilterSet(regoin=["West"]))
    with pytest.warns(hm.FilterWarning) as record:
        sc = hm.scope(ds, hm.FilterSet(region=["West", "Mars"], role=["boss"], account_id=["A1", "Z9"]))
    assert sorted(sc.warnings) == [
        "account_id: 'Z9' matched nothing in the data",
        "region: 'Mars' matched nothing in the data",
        "role: 'boss' matched nothing in the data",
    ]
    assert len([w for w in record if issubclass(w.category, hm.FilterWarning)]) == 3
    growth = hm.account_summary(ds, hm.FilterSet(segment=["Growth"]))  # extra columns filter too
    assert growth["account_id"].tolist() == ["A1"]
    assert growth["segment"].tolist() == ["Growth"]


def test_filters_accept_mappings_and_paths(builder, tmp_path):
    a = builder.account("A1", region="West")
    builder.scores(a, "influencer", [9])
    b = builder.account("B1", region="East")
    builder.scores(b, "influencer", [9])
    ds = builder.load(tmp_path / "d")
    path = hm.FilterSet(region=["East"]).save(tmp_path / "east.yaml")
    assert hm.account_summary(ds, {"region": ["West"]})["account_id"].tolist() == ["A1"]
    assert hm.account_summary(ds, path)["account_id"].tolist() == ["B1"]
    assert hm.account_summary(ds, str(path))["account_id"].tolist() == ["B1"]


def test_contact_and_questionnaire_filters(builder, tmp_path):
    a = builder.account("A1")
    c1 = builder.contact(a, "influencer")
    c2 = builder.contact(a, "influencer")
    builder.invite(c1, 9, questionnaire="Relationship NPS")
    builder.invite(c2, 2, questionnaire="Onboarding")
    ds = builder.load(tmp_path / "d")
    only = hm.account_summary(ds, hm.FilterSet(contact_id=[c2])).iloc[0]
    assert (only.contacts_invited, only.detractors) == (1, 1)
    rel = hm.account_summary(ds, hm.FilterSet(questionnaire=["Relationship NPS"])).iloc[0]
    assert (rel.invitations, rel.promoters) == (1, 1)


def test_many_account_and_contact_ids_filter_as_few_do(builder, tmp_path):
    """Id filters check every value against the data in one query; the result and the warnings are as before."""
    for i in range(1, 121):
        a = builder.account(f"A{i:03d}", region="West" if i % 2 else "East")
        builder.scores(a, "influencer", [i % 11])
    ds = builder.load(tmp_path / "d")
    wanted = [f"A{i:03d}" for i in range(1, 121, 3)] + ["Z1", "A999", "Z0"]
    with pytest.warns(hm.FilterWarning) as record:
        summary = hm.account_summary(ds, hm.FilterSet(account_id=wanted, region=["West"]))
    assert summary["account_id"].tolist() == [f"A{i:03d}" for i in range(1, 121, 6)]
    messages = [str(w.message) for w in record if issubclass(w.category, hm.FilterWarning)]
    assert messages == ["account_id: 'Z1', 'A999', 'Z0' matched nothing in the data"]
    contacts = hm.scope(ds).facts.select("contact_id").execute()["contact_id"].tolist()
    with pytest.warns(hm.FilterWarning, match="contact_id: 'C-none' matched nothing"):
        sc = hm.scope(ds, hm.FilterSet(contact_id=[*contacts[::2], "C-none"]))
    assert sorted(sc.facts.select("contact_id").execute()["contact_id"]) == sorted(contacts[::2])
