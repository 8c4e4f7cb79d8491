//! Every SPEC section that states a MUST has at least one case named after it, unless it is
//! listed below with the reason it cannot have one.

use std::collections::BTreeSet;

const SPEC: &str = include_str!("../../protocol/SPEC.md");

/// Sections with the word MUST but no case of their own, and why.
const EXEMPT: &[(&str, &str)] = &[
    ("1.2", "defines the keywords"),
    ("1.4", "defines conformance"),
    (
        "3.2",
        "its MUSTs bind clients; the server's echo is tested by the 4.2 cases",
    ),
    (
        "5.9",
        "transactions are observable only through an app-specific hook that saves several objects in one transaction (interop/dcrf's POST /admin/steps, SPEC 5.9.2, observed F2); the harness has no such hook yet",
    ),
    (
        "7.4",
        "every case validates every received frame against section 4.1",
    ),
];

fn sections_with_must() -> BTreeSet<String> {
    let mut sections = BTreeSet::new();
    let mut current: Option<String> = None;
    for line in SPEC.lines() {
        if let Some(heading) = line.strip_prefix("### ") {
            current = heading.split_whitespace().next().map(str::to_owned);
        } else if let Some(section) = &current
            && line
                .split(|c: char| !c.is_ascii_alphabetic())
                .any(|word| word == "MUST")
        {
            sections.insert(section.clone());
        }
    }
    sections
}

#[test]
fn every_section_with_a_must_has_a_case() {
    let covered: BTreeSet<&str> = dcrf_conformance::cases::all()
        .iter()
        .map(|case| case.section)
        .collect();
    let uncovered: Vec<String> = sections_with_must()
        .into_iter()
        .filter(|section| !section.starts_with("10."))
        .filter(|section| !covered.contains(section.as_str()))
        .filter(|section| !EXEMPT.iter().any(|(exempt, _)| exempt == section))
        .collect();
    assert!(
        uncovered.is_empty(),
        "SPEC sections with a MUST and no case: {uncovered:?}"
    );
}

#[test]
fn case_ids_are_unique_and_cite_existing_sections() {
    let sections: BTreeSet<String> = SPEC
        .lines()
        .filter_map(|line| line.strip_prefix("### "))
        .filter_map(|heading| heading.split_whitespace().next().map(str::to_owned))
        .collect();
    let cases = dcrf_conformance::cases::all();
    let mut ids = BTreeSet::new();
    for case in &cases {
        assert!(ids.insert(case.id), "duplicate case id {}", case.id);
        assert!(
            sections.contains(case.section),
            "case {} cites section {}, which SPEC.md does not have",
            case.id,
            case.section
        );
        assert!(
            case.id.starts_with(&format!("{}.", case.section)),
            "case {} is not named after its section {}",
            case.id,
            case.section
        );
    }
}
