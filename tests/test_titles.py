"""Roles from job titles: the default rules on a corpus of real-world-looking titles in several languages."""

from __future__ import annotations

import pytest

from heatmap_lib.data.titles import TitleRulesError, classify_titles, load_title_rules, parse_title_rules

DM, INF, D2D = "decision_maker", "influencer", "day_to_day"

# (title, role the defaults promise): chief/C-level, VP, head of, director, owner, founder -> decision makers;
# manager, lead, architect, principal -> influencers; the rest day-to-day users.
CORPUS: list[tuple[str, str]] = [
    # English: C-level, VPs, heads, directors, owners, founders
    ("Chief Executive Officer", DM),
    ("CEO", DM),
    ("CFO", DM),
    ("Chief Technology Officer", DM),
    ("CTO & Co-Founder", DM),
    ("Chief Information Security Officer", DM),
    ("CISO", DM),
    ("CIO", DM),
    ("Chief Revenue Officer", DM),
    ("CMO", DM),
    ("COO", DM),
    ("Chief of Staff", DM),
    ("President", DM),
    ("Vice President, Engineering", DM),
    ("VP of Sales", DM),
    ("SVP Operations", DM),
    ("EVP & General Counsel", DM),
    ("Senior Vice-President Finance", DM),
    ("Head of Procurement", DM),
    ("Head of IT Infrastructure", DM),
    ("Global Head, Customer Success", DM),
    ("Director of Engineering", DM),
    ("IT Director", DM),
    ("Managing Director", DM),
    ("Sr. Director, Data Platform", DM),
    ("Owner", DM),
    ("Business Owner", DM),
    ("Founder", DM),
    ("Cofounder", DM),
    ("Managing Partner", DM),
    # English: managers, leads, architects, principals
    ("IT Manager", INF),
    ("Senior Product Manager", INF),
    ("Engineering Manager", INF),
    ("Procurement Manager", INF),
    ("Account Manager", INF),
    ("Team Lead, Support", INF),
    ("Tech Lead", INF),
    ("Team Leader Customer Service", INF),
    ("Solutions Architect", INF),
    ("Enterprise Architect", INF),
    ("Principal Engineer", INF),
    ("Principal Consultant", INF),
    ("Product Owner", INF),
    ("Support Supervisor", INF),
    ("Ops Mgr", INF),
    # English: day-to-day users
    ("Software Engineer", D2D),
    ("Senior Data Analyst", D2D),
    ("Business Analyst", D2D),
    ("Developer", D2D),
    ("Customer Support Specialist", D2D),
    ("Systems Administrator", D2D),
    ("Marketing Coordinator", D2D),
    ("Sales Associate", D2D),
    ("Account Executive", D2D),
    ("Customer Service Representative", D2D),
    ("Accountant", D2D),
    ("UX Designer", D2D),
    ("Data Scientist", D2D),
    ("Compliance Officer", D2D),
    ("Executive Assistant to the CEO", D2D),
    ("Administrative Assistant", D2D),
    ("Summer Intern", D2D),
    ("Field Technician", D2D),
    ("Buyer", D2D),
    # German
    ("Geschäftsführer", DM),
    ("Geschäftsführerin", DM),
    ("Geschaeftsfuehrer", DM),
    ("Vorstandsvorsitzender", DM),
    ("Leiter IT", DM),
    ("Abteilungsleiterin Einkauf", DM),
    ("Bereichsleiter Vertrieb", DM),
    ("Inhaber", DM),
    ("Gründer & CEO", DM),
    ("Teamleiter Support", INF),
    ("Projektleiterin", INF),
    ("Gruppenleiter Entwicklung", INF),
    ("Softwarearchitekt", INF),  # German compounds: the rule matches the end of the word
    ("IT-Architekt", INF),
    ("Sachbearbeiterin Einkauf", D2D),
    ("Softwareentwickler", D2D),
    ("Entwickler", D2D),
    ("Berater", D2D),
    ("Mitarbeiter Kundenservice", D2D),
    ("Assistentin der Geschäftsführung", D2D),
    # French
    ("Président-Directeur Général", DM),
    ("PDG", DM),
    ("Directeur des Systèmes d'Information", DM),
    ("Directrice Financière", DM),
    ("Fondateur", DM),
    ("Propriétaire", DM),
    ("Chef de projet", INF),
    ("Responsable Achats", INF),
    ("Architecte Solutions", INF),
    ("Ingénieur Logiciel", D2D),
    ("Développeur Full Stack", D2D),
    ("Analyste Financier", D2D),
    ("Chargée de clientèle", D2D),
    ("Assistante de direction", D2D),
    # Spanish
    ("Director General", DM),
    ("Directora de Operaciones", DM),
    ("Fundador", DM),
    ("Consejero Delegado", DM),
    ("Gerente General", DM),
    ("Gerente de Compras", INF),
    ("Jefe de Proyecto", INF),
    ("Arquitecto de Software", INF),
    ("Ingeniero de Soporte", D2D),
    ("Analista de Datos", D2D),
    ("Desarrolladora", D2D),
    ("Asistente Administrativo", D2D),
    # Portuguese
    ("Diretor Comercial", DM),
    ("Diretora de TI", DM),
    ("Presidente", DM),
    ("Gestor de Projetos", INF),
    ("Gerente de Contas", INF),
    ("Arquiteta de Soluções", INF),
    ("Engenheiro de Software", D2D),
    ("Analista de Sistemas", D2D),
    ("Desenvolvedor", D2D),
    # Italian
    ("Amministratore Delegato", DM),
    ("Direttore Commerciale", DM),
    ("Direttrice Marketing", DM),
    ("Titolare", DM),
    ("Fondatore", DM),
    ("Responsabile Acquisti", INF),
    ("Capo Progetto", INF),
    ("Architetto Software", INF),
    ("Ingegnere del Software", D2D),
    ("Impiegato amministrativo", D2D),
    ("Sviluppatore", D2D),
    ("Consulente", D2D),
    # Dutch
    ("Algemeen Directeur", DM),
    ("Eigenaar", DM),
    ("Oprichter", DM),
    ("Hoofd Logistiek", DM),
    ("Teamleider Klantenservice", INF),
    ("Projectleider", INF),
    ("Medewerker Klantenservice", D2D),
    ("Ontwikkelaar", D2D),
    ("Adviseur", D2D),
    ("Inkoper", D2D),
]

# Titles no rule matches: they get the default role and are listed, so the user can add a rule.
UNMATCHED = ["Wizard of Lightbulb Moments", "Customer Happiness Hero", "Kassierer", "Bibliothécaire", None]


def test_the_corpus_is_large_and_multilingual():
    assert len(CORPUS) >= 100
    assert len({t for t, _ in CORPUS}) == len(CORPUS)


def test_the_default_rules_classify_the_corpus_as_they_promise():
    out = classify_titles([t for t, _ in CORPUS])
    got = dict(zip(out.title, out.role, strict=True))
    wrong = {t: (got[t], want) for t, want in CORPUS if got[t] != want}
    assert wrong == {}
    assert out.title[~out.matched].tolist() == []  # every corpus title is matched by a rule, none by default


def test_titles_no_rule_matches_get_the_default_and_are_reported():
    out = classify_titles(UNMATCHED)
    assert out.role.tolist() == [D2D] * len(UNMATCHED)
    assert out.matched.tolist() == [False] * len(UNMATCHED)


def test_rules_are_ordered_case_and_accent_insensitive_in_any_language():
    rules = parse_title_rules(
        {
            "default": "influencer",
            "rules": [
                {"role": "day_to_day", "patterns": ["assistent"]},
                {"role": "decision_maker", "patterns": ["GESCHÄFTSFÜHR", r"\bdyrektor\b", "総経理"]},
            ],
        }
    )
    out = classify_titles(
        ["Assistent der Geschäftsführung", "geschaftsfuhrerin", "Dyrektor Handlowy", "総経理", "X"], rules
    )
    assert out.role.tolist() == [D2D, "decision_maker", "decision_maker", "decision_maker", "influencer"]
    assert out.matched.tolist() == [True, True, True, True, False]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"rules": [{"role": "boss", "patterns": ["ceo"]}]}, "rules[0].role: 'boss' is not a role"),
        ({"rules": [{"role": "influencer", "patterns": ["(lead"]}]}, "rules[0].patterns[0]: '(lead' is not a valid"),
        ({"rules": [{"role": "influencer", "patterns": []}]}, "rules[0].patterns: a list of one or more"),
        ({"rules": [], "default": "user"}, "default: 'user' is not a role"),
        ({"rules": [], "fallback": "influencer"}, "fallback: unknown key"),
        ({"rules": [{"role": "influencer", "pattern": "lead"}]}, "rules[0]: a rule is a mapping with exactly"),
    ],
)
def test_mistakes_in_a_rules_file_are_named_with_their_key_path(tmp_path, raw, message):
    import yaml

    path = tmp_path / "roles.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(TitleRulesError) as err:
        load_title_rules(path)
    assert str(err.value).startswith(f"{path}: ")
    assert message in str(err.value)
